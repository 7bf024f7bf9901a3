package service

import (
	"context"
	"fmt"
	"io"
	"strings"

	"shop/app/operations"
	"shop/infrastructure/logging"
)

// CommandLine is what the command line (ports/cli) runs, built here so that
// the port does not reach the composition root: cmd/shop hands it over.
type CommandLine struct {
	// Hostname names this process where a stable name is needed (Redis
	// consumer groups).
	Hostname string
}

// ParseServices reads a comma-separated list of services.
func (CommandLine) ParseServices(s string) ([]string, error) { return ParseServices(s) }

// Projections names the read models that can be rebuilt.
func (CommandLine) Projections() []string { return Projections }

// Serve runs the services the configuration of lookup names until ctx ends,
// logging to log.
func (c CommandLine) Serve(ctx context.Context, lookup func(string) (string, bool), log io.Writer) error {
	cfg, err := ConfigFromEnv(lookup, c.Hostname)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	logger := logging.New(log, cfg.LogFormat, cfg.LogLevel)
	sys, err := New(ctx, cfg, logger, Adapters{})
	if err != nil {
		return err
	}
	return sys.Run(ctx, func(addrs map[string]string) {
		for _, name := range cfg.Services {
			logger.Info("listening", "service", name, "url", "http://"+displayAddr(addrs[name]))
		}
		if cfg.Runs(Orders) {
			logger.Info("try it", "command", `curl -X POST http://localhost:`+portOf(addrs[Orders])+`/orders -H "Content-Type: application/json" -d '{"customerId":"123e4567-e89b-12d3-a456-426614174000","items":[{"productId":"prod-123","productName":"Laptop","quantity":1,"unitPrice":999.99}]}'`)
		}
	})
}

// Operations connects the operators' use cases to the servers the
// configuration of lookup names, logging to log.
func (c CommandLine) Operations(ctx context.Context, lookup func(string) (string, bool), log io.Writer) (*operations.Operations, func() error, error) {
	cfg, err := ConfigFromEnv(lookup, c.Hostname)
	if err != nil {
		return nil, nil, fmt.Errorf("configuration: %w", err)
	}
	tools, err := NewTools(ctx, cfg, logging.New(log, logging.FormatText, cfg.LogLevel))
	if err != nil {
		return nil, nil, err
	}
	return tools.Operations, tools.Close, nil
}

func displayAddr(addr string) string {
	if strings.HasPrefix(addr, "[::]:") || strings.HasPrefix(addr, "0.0.0.0:") {
		return "localhost:" + portOf(addr)
	}
	return addr
}

func portOf(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	return addr[i+1:]
}
