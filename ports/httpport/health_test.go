package httpport_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"shop/ports/httpport"
)

// A consumer group that cannot read the bus makes the service degraded,
// named with why, while its dependencies answer.
func TestHealthNamesTheConsumersThatCannotRead(t *testing.T) {
	t.Parallel()
	failing := map[string]string{}
	readers := func() map[string]string { return failing }
	bus := httpport.Dependency{Name: "redis", Required: true, Check: func(context.Context) error { return nil }}
	health := httpport.NewHealth(nil, readers, bus)
	read := func() (int, map[string]any) {
		t.Helper()
		status, body := serve(health, http.MethodGet, "/health", "", nil)
		var got map[string]any
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		return status, got
	}
	if status, got := read(); status != http.StatusOK || got["status"] != "healthy" || got["consumers"] != nil {
		t.Fatalf("%d %v", status, got)
	}
	failing["orders.reservation-policy"] = "NOGROUP No such key"
	status, got := read()
	consumers, _ := got["consumers"].(map[string]any)
	if status != http.StatusOK || got["status"] != "degraded" || consumers["orders.reservation-policy"] != "cannot read: NOGROUP No such key" {
		t.Fatalf("%d %v", status, got)
	}
}
