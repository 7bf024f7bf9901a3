// Command shop runs the services of the shop and its operator tools: it
// builds the composition root's command-line system and hands it, with the
// arguments and the environment, to the command line.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"shop/ports/cli"
	"shop/service"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	hostname, _ := os.Hostname()
	code := cli.Run(ctx, os.Args[1:], cli.Env{
		Lookup: os.LookupEnv, System: service.CommandLine{Hostname: hostname},
		Stdout: os.Stdout, Stderr: os.Stderr,
	})
	stop()
	os.Exit(code)
}
