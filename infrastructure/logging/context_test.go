package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"shop/infrastructure/logging"
)

func TestALineLoggedInASpanNamesItsTraceAndSpan(t *testing.T) {
	var out bytes.Buffer
	logger := logging.New(&out, logging.FormatJSON, slog.LevelInfo)
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:  trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
	})
	ctx := logging.WithAttrs(trace.ContextWithSpanContext(context.Background(), sc), slog.String("causation_id", "m-1"))
	logger.InfoContext(ctx, "handled")
	logger.Info("outside any span")

	lines := bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n"))
	var in, outside map[string]any
	if err := json.Unmarshal(lines[0], &in); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(lines[1], &outside); err != nil {
		t.Fatal(err)
	}
	if in["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" || in["span_id"] != "00f067aa0ba902b7" || in["causation_id"] != "m-1" {
		t.Fatalf("line in a span: %s", lines[0])
	}
	if _, ok := outside["trace_id"]; ok {
		t.Fatalf("line outside any span: %s", lines[1])
	}
}
