module github.com/umbrasec/umbra/agent

go 1.26.0

require (
	github.com/google/uuid v1.6.0
	github.com/gosnmp/gosnmp v1.47.0
	github.com/grandcat/zeroconf v1.0.0
	github.com/kardianos/service v1.2.4
	github.com/libp2p/zeroconf/v2 v2.2.0
	github.com/shirou/gopsutil/v4 v4.26.10
	github.com/umbrasec/umbra/shared v0.0.0
	github.com/yusufpapurcu/wmi v1.2.4
	golang.org/x/sys v0.48.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/cenkalti/backoff v2.2.1+incompatible // indirect
	github.com/ebitengine/purego v0.11.2 // indirect
	github.com/go-ole/go-ole v1.2.6 // indirect
	github.com/lufia/plan9stats v0.0.0-20211012122336-39d0f177ccd0 // indirect
	github.com/miekg/dns v1.1.43 // indirect
	github.com/power-devops/perfstat v0.0.0-20260805114148-88456608a4f6 // indirect
	github.com/tklauser/go-sysconf v0.4.0 // indirect
	github.com/tklauser/numcpus v0.12.0 // indirect
	golang.org/x/net v0.0.0-20210423184538-5f58ad60dda6 // indirect
)

replace github.com/umbrasec/umbra/shared => ../shared
