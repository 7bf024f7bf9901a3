package tracing_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"shop/infrastructure/tracing"
)

// collector is an OTLP/HTTP trace receiver: it keeps what it is sent.
type collector struct {
	mu       sync.Mutex
	requests []*collectortrace.ExportTraceServiceRequest
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	req := &collectortrace.ExportTraceServiceRequest{}
	if err != nil || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(body, req) != nil {
		http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.requests = append(c.requests, req)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

func TestSpansGoToTheOTLPEndpointTheEnvironmentNames(t *testing.T) {
	c := &collector{}
	srv := httptest.NewServer(c)
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "")
	ctx := context.Background()

	tr, err := tracing.New(ctx, tracing.Config{Enabled: true, ServiceName: "shop-orders"})
	if err != nil {
		t.Fatal(err)
	}
	parentCtx, parent := tr.Start(ctx, "POST /orders")
	carrier := tr.Inject(parentCtx)
	_, child := tr.Start(tr.Extract(ctx, carrier), "append order")
	child.End()
	parent.End()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	names := map[string][]byte{}
	var parentOfChild []byte
	var service string
	for _, req := range c.requests {
		for _, rs := range req.ResourceSpans {
			for _, kv := range rs.Resource.Attributes {
				if kv.Key == "service.name" {
					service = kv.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					names[sp.Name] = sp.SpanId
					if sp.Name == "append order" {
						parentOfChild = sp.ParentSpanId
					}
				}
			}
		}
	}
	if service != "shop-orders" || len(names) != 2 || string(parentOfChild) != string(names["POST /orders"]) {
		t.Fatalf("exported: service %q, spans %v, the append's parent %x", service, names, parentOfChild)
	}
}

func TestNothingIsTracedUnlessEnabled(t *testing.T) {
	tr, err := tracing.New(context.Background(), tracing.Config{ServiceName: "shop"})
	if tr != nil || err != nil {
		t.Fatalf("tracing %v, %v", tr, err)
	}
}
