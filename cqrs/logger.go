package cqrs

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
)

// WatermillLogger adapts slog for Watermill. It is written here rather than
// taken from watermill.NewSlogLogger because that adapter turns every call's
// fields into attributes before slog decides whether the level is enabled:
// Watermill logs several trace lines per message, and building them cost a
// tenth of the CPU of the whole system under load. This one checks the level
// first. It also logs Watermill's info lines (a handler started, a subscriber
// closed) at debug: they are routine here.
func WatermillLogger(logger *slog.Logger) watermill.LoggerAdapter {
	return slogAdapter{logger: logger}
}

type slogAdapter struct {
	logger *slog.Logger
}

func (a slogAdapter) log(level slog.Level, msg string, fields watermill.LogFields, extra ...any) {
	ctx := context.Background()
	if !a.logger.Enabled(ctx, level) {
		return
	}
	args := make([]any, 0, 2*len(fields)+len(extra))
	for k, v := range fields {
		args = append(args, attr(k, v)...)
	}
	a.logger.Log(ctx, level, msg, append(args, extra...)...)
}

// attr is a Watermill field as this project logs it: a duration in
// milliseconds, under a name that says so, as every duration in the logs.
func attr(k string, v any) []any {
	if d, ok := v.(time.Duration); ok {
		return []any{k + "_ms", float64(d.Microseconds()) / 1000}
	}
	return []any{k, v}
}

// Error logs at error level, except for work cut short because the process
// is stopping: transports report their reads cancelled at shutdown as errors.
func (a slogAdapter) Error(msg string, err error, fields watermill.LogFields) {
	level := slog.LevelError
	if errors.Is(err, context.Canceled) {
		level = slog.LevelDebug
	}
	a.log(level, msg, fields, "error", err)
}

func (a slogAdapter) Info(msg string, fields watermill.LogFields) {
	a.log(slog.LevelDebug, msg, fields)
}

func (a slogAdapter) Debug(msg string, fields watermill.LogFields) {
	a.log(slog.LevelDebug, msg, fields)
}

func (a slogAdapter) Trace(msg string, fields watermill.LogFields) {
	a.log(watermill.LevelTrace, msg, fields)
}

func (a slogAdapter) With(fields watermill.LogFields) watermill.LoggerAdapter {
	if len(fields) == 0 {
		return a
	}
	args := make([]any, 0, 2*len(fields))
	for k, v := range fields {
		args = append(args, attr(k, v)...)
	}
	return slogAdapter{logger: a.logger.With(args...)}
}
