package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func versionString() string {
	lego := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/go-acme/lego/v4" {
				lego = d.Version
			}
		}
	}
	return fmt.Sprintf("renewd %s (lego %s, %s %s/%s)", version, lego, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
