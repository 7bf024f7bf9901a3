// Package decorator wraps every command handler, once and generically, with
// what all of them need: a log line and a duration metric, named by the
// command's declared name. Handlers never log their own success. Query
// handlers are not wrapped: only the HTTP ports ask them, and the access log
// and the request metrics of each route already time them.
package decorator

import (
	"context"
	"log/slog"
	"time"
)

// Named is a command with a declared name, used in logs and metrics.
type Named interface {
	CommandName() string
}

// CommandHandler handles one command type.
type CommandHandler[C Named] interface {
	Handle(ctx context.Context, cmd C) error
}

// Metrics records how long handlers take and whether they failed.
type Metrics interface {
	ObserveCommand(name string, took time.Duration, err error)
}

// NoMetrics records nothing.
type NoMetrics struct{}

func (NoMetrics) ObserveCommand(string, time.Duration, error) {}

// Observability is where decorated handlers report.
type Observability struct {
	Logger  *slog.Logger
	Metrics Metrics
}

// ApplyCommandDecorators wraps h with logging and metrics.
func ApplyCommandDecorators[C Named](h CommandHandler[C], obs Observability) CommandHandler[C] {
	if obs.Metrics == nil {
		obs.Metrics = NoMetrics{}
	}
	if obs.Logger == nil {
		obs.Logger = slog.New(slog.DiscardHandler)
	}
	return commandLogging[C]{base: commandMetrics[C]{base: h, metrics: obs.Metrics}, logger: obs.Logger}
}

type commandLogging[C Named] struct {
	base   CommandHandler[C]
	logger *slog.Logger
}

func (d commandLogging[C]) Handle(ctx context.Context, cmd C) error {
	err := d.base.Handle(ctx, cmd)
	if err != nil {
		// Debug: the caller decides whether the error is a refusal (answered
		// with a status code, or absorbed by a policy) or a failure it logs.
		d.logger.DebugContext(ctx, "command failed", "command", cmd.CommandName(), "error", err)
		return err
	}
	d.logger.DebugContext(ctx, "command handled", "command", cmd.CommandName())
	return nil
}

type commandMetrics[C Named] struct {
	base    CommandHandler[C]
	metrics Metrics
}

func (d commandMetrics[C]) Handle(ctx context.Context, cmd C) error {
	start := time.Now()
	err := d.base.Handle(ctx, cmd)
	d.metrics.ObserveCommand(cmd.CommandName(), time.Since(start), err)
	return err
}
