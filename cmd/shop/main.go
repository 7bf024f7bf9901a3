// Command shop runs the services of the shop and its operator tools.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"shop/ports/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	hostname, _ := os.Hostname()
	code := cli.Run(ctx, os.Args[1:], cli.Env{Lookup: os.LookupEnv, Hostname: hostname, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
