package service_test

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"shop/app/eventstore"
	"shop/domain/money"
	"shop/domain/order"
	"shop/infrastructure/logging"
	"shop/infrastructure/tracing"
	"shop/service"
)

// spans records the ended spans of every system of a test in memory.
type spans struct {
	recorder *tracetest.SpanRecorder
	tracing  *tracing.Tracing
}

func newSpans() spans {
	recorder := tracetest.NewSpanRecorder()
	return spans{recorder: recorder, tracing: tracing.WithProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder)))}
}

// path is the chain of spans from the first ended span that matches to the
// root of its trace, the span itself first.
func (s spans) path(match func(sdktrace.ReadOnlySpan) bool) []sdktrace.ReadOnlySpan {
	ended := s.recorder.Ended()
	byID := make(map[trace.SpanID]sdktrace.ReadOnlySpan, len(ended))
	for _, sp := range ended {
		byID[sp.SpanContext().SpanID()] = sp
	}
	i := slices.IndexFunc(ended, match)
	if i < 0 {
		return nil
	}
	var chain []sdktrace.ReadOnlySpan
	for sp, ok := ended[i], true; ok; sp, ok = byID[sp.Parent().SpanID()] {
		chain = append(chain, sp)
		if !sp.Parent().IsValid() {
			break
		}
	}
	return chain
}

func describe(chain []sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	for _, sp := range chain {
		fmt.Fprintf(&b, "\n  %s (%s) %s", sp.Name(), sp.SpanKind(), sp.SpanContext().SpanID())
	}
	return b.String()
}

// The spans of one order are one trace, from its POST to its notification:
// each service's delivery is the child of the publish that sent it, which
// is the child of the append that stored the event, which is the child of
// the request or the delivery that appended it. On the real brokers the
// trace crosses relays, a broker and the services' separate systems.
func TestOneOrderIsOneTraceFromItsPostToItsNotification(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		recorded := newSpans()
		logs := &syncBuffer{}
		s := startShop(t, be, withAdapters(service.Adapters{Tracing: recorded.tracing}),
			withLogger(logging.New(logs, logging.FormatJSON, slog.LevelDebug)))
		s.addProduct("p", 10)
		id := s.placeOrder(orderBody("c", item{"p", 2, "5"}))
		s.waitOrder(id, "CONFIRMED")
		s.waitNotifications(id, 2)

		// The span of the confirmation's delivery to the customer, whose
		// parent is the notifications service's delivery of order.confirmed.
		isConfirmation := func(sp sdktrace.ReadOnlySpan) bool {
			return strings.HasPrefix(sp.Name(), "notifications.order-policy.p") && strings.HasSuffix(sp.Name(), " order.confirmed") &&
				slices.ContainsFunc(sp.Attributes(), func(kv attribute.KeyValue) bool {
					return string(kv.Key) == "shop.aggregate_id" && kv.Value.AsString() == id
				})
		}
		var chain []sdktrace.ReadOnlySpan
		if !eventually(30*time.Second, func() bool {
			chain = recorded.path(func(sp sdktrace.ReadOnlySpan) bool {
				if !strings.HasPrefix(sp.Name(), "send ") {
					return false
				}
				up := recorded.path(func(p sdktrace.ReadOnlySpan) bool { return p.SpanContext().SpanID() == sp.Parent().SpanID() })
				return len(up) > 0 && isConfirmation(up[0])
			})
			return len(chain) > 0 && !chain[len(chain)-1].Parent().IsValid()
		}) {
			t.Fatalf("no complete trace of the confirmation's notification: %s", describe(chain))
		}
		want := []struct {
			prefix string
			kind   trace.SpanKind
		}{
			{"send log", trace.SpanKindClient},
			{"notifications.order-policy.p", trace.SpanKindConsumer},
			{"publish ", trace.SpanKindProducer},
			{"append order", trace.SpanKindInternal},
			{"orders.reservation-policy.p", trace.SpanKindConsumer},
			{"publish ", trace.SpanKindProducer},
			{"append reservation", trace.SpanKindInternal},
			{"inventory.order-policy.p", trace.SpanKindConsumer},
			{"publish ", trace.SpanKindProducer},
			{"append order", trace.SpanKindInternal},
			{"POST /orders", trace.SpanKindServer},
		}
		if len(chain) != len(want) {
			t.Fatalf("the notification's trace is %d spans long, want %d:%s", len(chain), len(want), describe(chain))
		}
		root := chain[len(chain)-1].SpanContext().TraceID()
		for i, w := range want {
			sp := chain[i]
			if !strings.HasPrefix(sp.Name(), w.prefix) || sp.SpanKind() != w.kind || sp.SpanContext().TraceID() != root {
				t.Fatalf("span %d is %s (%s), want %s… (%s):%s", i, sp.Name(), sp.SpanKind(), w.prefix, w.kind, describe(chain))
			}
		}

		// The handler's log lines name the trace and the span, and the
		// message's causation.
		delivery := chain[1].SpanContext()
		if !eventually(10*time.Second, func() bool {
			return slices.ContainsFunc(logs.lines(t), func(l map[string]any) bool {
				return l["trace_id"] == delivery.TraceID().String() && l["span_id"] == delivery.SpanID().String() &&
					l["msg"] == "message handled" && l["causation_id"] != nil && l["causation_id"] != ""
			})
		}) {
			t.Fatalf("no log line of the notification's delivery names its trace, span and causation")
		}
	})
}

// A record keeps its append's trace context in the store: the relay that
// takes a dead process's records over publishes them later, in a span that
// continues the append's trace, and the deliveries follow it.
func TestARecordPublishedByAnotherProcesssRelayContinuesItsAppendsTrace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		recorded := newSpans()
		s := startShop(t, be, withAdapters(service.Adapters{Tracing: recorded.tracing}),
			withConfig(func(c *service.Config) { c.RelaySweepAge = 200 * time.Millisecond }))
		s.addProduct("p", 10)
		id := uuid.NewString()
		placed := &order.Placed{
			OrderID: id, CustomerID: "c", Items: []order.Item{{ProductID: "p", ProductName: "p", Quantity: 1, UnitPrice: money.Amount(500)}},
			Total: 500, PlacedAt: time.Now().UTC(),
		}
		// The dead process's append, traced as the service's store traces
		// every append; nobody publishes it but the next relay's sweep.
		s.appendAsADeadProcess(service.Orders, eventstore.Record{
			EventID: uuid.NewString(), AggregateType: order.AggregateType, AggregateID: id, Version: 1,
			Type: placed.EventName(), Event: placed, OccurredAt: placed.PlacedAt,
		})
		s.waitOrder(id, "CONFIRMED")

		var chain []sdktrace.ReadOnlySpan
		if !eventually(30*time.Second, func() bool {
			chain = recorded.path(func(sp sdktrace.ReadOnlySpan) bool {
				return strings.HasPrefix(sp.Name(), "inventory.order-policy.p") && strings.HasSuffix(sp.Name(), " order.placed") &&
					slices.ContainsFunc(sp.Attributes(), func(kv attribute.KeyValue) bool {
						return string(kv.Key) == "shop.aggregate_id" && kv.Value.AsString() == id
					})
			})
			return len(chain) == 3
		}) {
			t.Fatalf("the delivery of the swept record: %s", describe(chain))
		}
		if !strings.HasPrefix(chain[1].Name(), "publish ") || chain[2].Name() != "append order" || chain[2].Parent().IsValid() {
			t.Fatalf("the delivery of the swept record does not continue its append's trace:%s", describe(chain))
		}
	})
}
