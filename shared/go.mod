module github.com/umbrasec/umbra/shared

go 1.26
