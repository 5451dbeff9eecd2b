package osservice

func goos() string { return "darwin" }

func afterInstall(Options) error { return nil }
