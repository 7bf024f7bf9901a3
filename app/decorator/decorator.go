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

// AnsweringHandler handles one command type and answers with what the
// command left behind, so that the caller needs no read to learn it.
type AnsweringHandler[C Named, R any] interface {
	Handle(ctx context.Context, cmd C) (R, error)
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
	return withoutAnswer[C]{ApplyAnsweringDecorators[C, struct{}](answerNothing[C]{h}, obs)}
}

// ApplyAnsweringDecorators wraps h with logging and metrics.
func ApplyAnsweringDecorators[C Named, R any](h AnsweringHandler[C, R], obs Observability) AnsweringHandler[C, R] {
	if obs.Metrics == nil {
		obs.Metrics = NoMetrics{}
	}
	if obs.Logger == nil {
		obs.Logger = slog.New(slog.DiscardHandler)
	}
	return commandLogging[C, R]{base: commandMetrics[C, R]{base: h, metrics: obs.Metrics}, logger: obs.Logger}
}

type commandLogging[C Named, R any] struct {
	base   AnsweringHandler[C, R]
	logger *slog.Logger
}

func (d commandLogging[C, R]) Handle(ctx context.Context, cmd C) (R, error) {
	answer, err := d.base.Handle(ctx, cmd)
	if err != nil {
		// Debug: the caller decides whether the error is a refusal (answered
		// with a status code, or absorbed by a policy) or a failure it logs.
		d.logger.DebugContext(ctx, "command failed", "command", cmd.CommandName(), "error", err)
		return answer, err
	}
	d.logger.DebugContext(ctx, "command handled", "command", cmd.CommandName())
	return answer, nil
}

type commandMetrics[C Named, R any] struct {
	base    AnsweringHandler[C, R]
	metrics Metrics
}

func (d commandMetrics[C, R]) Handle(ctx context.Context, cmd C) (R, error) {
	start := time.Now()
	answer, err := d.base.Handle(ctx, cmd)
	d.metrics.ObserveCommand(cmd.CommandName(), time.Since(start), err)
	return answer, err
}

// answerNothing and withoutAnswer let a plain handler share the decorators.
type answerNothing[C Named] struct{ h CommandHandler[C] }

func (a answerNothing[C]) Handle(ctx context.Context, cmd C) (struct{}, error) {
	return struct{}{}, a.h.Handle(ctx, cmd)
}

type withoutAnswer[C Named] struct{ h AnsweringHandler[C, struct{}] }

func (w withoutAnswer[C]) Handle(ctx context.Context, cmd C) error {
	_, err := w.h.Handle(ctx, cmd)
	return err
}
