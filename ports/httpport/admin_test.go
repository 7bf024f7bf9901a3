package httpport_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"shop/app/eventstore"
	"shop/app/operations"
	"shop/app/orders"
	"shop/infrastructure/memory"
	"shop/ports/httpport"
)

const token = "test-admin-token-0123456789"

var bearer = map[string]string{"Authorization": "Bearer " + token}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

type counterIDs struct{ n atomic.Int64 }

func (c *counterIDs) NewID() string { return fmt.Sprint("id-", c.n.Add(1)) }

type discardPublisher struct{}

func (discardPublisher) Publish(context.Context, eventstore.Record) error { return nil }
func (discardPublisher) Republish(context.Context, operations.DeadLetter, int) error {
	return nil
}
func (discardPublisher) Release(context.Context, operations.DeadLetter) error { return nil }

type nothingProjected struct{}

func (nothingProjected) Handle(context.Context, eventstore.Record) error { return nil }

func adminHandler(t *testing.T, rebuilds ...operations.Rebuild) http.Handler {
	t.Helper()
	_, h := adminAPI(t, rebuilds...)
	return h
}

// adminAPI is the admin API and the operations behind it.
func adminAPI(t *testing.T, rebuilds ...operations.Rebuild) (*operations.Operations, http.Handler) {
	t.Helper()
	ops, err := operations.New(operations.Config{
		DeadLetters: memory.NewDeadLetters(), Parking: memory.NewParking(), Runs: memory.NewRuns(), Republisher: discardPublisher{}, Events: discardPublisher{},
		Stores: map[string]eventstore.Store{"orders": placedOrderStore(t, "o-1")}, Rebuilds: rebuilds,
		Clock: systemClock{}, IDs: &counterIDs{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ops, ordersHandler(orders.Application{}, httpport.Admin{Operations: ops, Token: token})
}

func TestTheAdminAPIAnswersBadArgumentsWith400(t *testing.T) {
	t.Parallel()
	h := adminHandler(t)
	for _, tt := range []struct {
		path, body string
		want       int
	}{
		{"/admin/dead-letters/replay", `{"all": true, "maxReplays": -1}`, http.StatusBadRequest},
		{"/admin/replay", `{"status": "failed", "maxReplays": -1}`, http.StatusBadRequest},
		{"/admin/replay", `{}`, http.StatusBadRequest},
		{"/admin/replay", `{"status": "failed", "aggregateId": "o-1"}`, http.StatusBadRequest},
		{"/admin/replay", `{"status": "lost", "all": true}`, http.StatusBadRequest},
		{"/admin/replay", `{"all": true, "startDate": "2024-02-01", "endDate": "2024-01-01"}`, http.StatusBadRequest},
		{"/admin/replay", `{"dryRun": true, "limit": 5}`, http.StatusBadRequest},
		{"/admin/replay", `{"services": ["payments"]}`, http.StatusBadRequest},
		{"/admin/replay", `{"eventIds": ["nope"]}`, http.StatusBadRequest},
		{"/admin/replay", `{"all": true, "dryRun": true}`, http.StatusOK},
		{"/admin/replay", `{"services": ["orders"], "dryRun": true}`, http.StatusOK},
		{"/admin/dead-letters/discard", `{}`, http.StatusBadRequest},
		{"/admin/dead-letters/discard", `{"all": true}`, http.StatusBadRequest},
		{"/admin/dead-letters/replay", `{}`, http.StatusBadRequest},
		{"/admin/dead-letters/replay", `{"statuses": ["failed"], "dryRun": true}`, http.StatusBadRequest},
		{"/admin/dead-letters/replay", `{"all": true, "dryRun": true}`, http.StatusOK},
		{"/admin/replay", `{"status": "failed"}`, http.StatusBadRequest},
		{"/admin/replay", `{"status": "failed", "all": true, "dryRun": true}`, http.StatusOK},
		{"/admin/dead-letters/replay", `{"ids": ["nope"]}`, http.StatusNotFound},
	} {
		if status, body := serve(h, http.MethodPost, tt.path, tt.body, bearer); status != tt.want {
			t.Errorf("%s %s: %d %s, want %d", tt.path, tt.body, status, body, tt.want)
		}
	}
}

func TestASecondRebuildOfAProjectionIsAConflict(t *testing.T) {
	t.Parallel()
	began, release := make(chan struct{}, 1), make(chan struct{})
	h := adminHandler(t, operations.Rebuild{
		Name: "orders", Store: placedOrderStore(t, "o-1"), AggregateTypes: []string{"order"},
		Begin: func(context.Context) (operations.Replacement, error) {
			began <- struct{}{}
			<-release
			return operations.NewReplacement(nothingProjected{}, nothingProjected{}, operations.Steps{}), nil
		},
	})
	first := make(chan int, 1)
	go func() {
		status, _ := serve(h, http.MethodPost, "/admin/projections/rebuild", `{"projection": "orders"}`, bearer)
		first <- status
	}()
	<-began
	type answer struct {
		status int
		body   string
	}
	second := make(chan answer, 1)
	go func() {
		status, body := serve(h, http.MethodPost, "/admin/projections/rebuild", `{"projection": "orders"}`, bearer)
		second <- answer{status, body}
	}()
	select {
	case got := <-second:
		if got.status != http.StatusConflict || !strings.Contains(got.body, `"rebuild_running"`) {
			t.Errorf("second rebuild: %d %s, want 409 rebuild_running", got.status, got.body)
		}
	case <-time.After(5 * time.Second):
		t.Error("the second rebuild ran beside the first")
	}
	close(release)
	if status := <-first; status != http.StatusOK {
		t.Fatalf("first rebuild: %d", status)
	}
}

func TestAnAdminOperationLongerThanTheWriteTimeoutStillAnswers(t *testing.T) {
	t.Parallel()
	h := adminHandler(t, operations.Rebuild{
		Name: "orders", Store: placedOrderStore(t, "o-1"), AggregateTypes: []string{"order"},
		Begin: func(context.Context) (operations.Replacement, error) {
			time.Sleep(400 * time.Millisecond) // a rebuild of many events
			return operations.NewReplacement(nothingProjected{}, nothingProjected{}, operations.Steps{}), nil
		},
	})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.WriteTimeout = 100 * time.Millisecond
	srv.Start()
	defer srv.Close()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/admin/projections/rebuild", strings.NewReader(`{"projection": "orders"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", bearer["Authorization"])
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("the report was cut off: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "orders") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestTheAdminAPISaysWhenMoreMatchThanItActedOn(t *testing.T) {
	t.Parallel()
	ops, h := adminAPI(t)
	ctx := context.Background()
	for i := range 10_000 {
		if err := ops.Archive(ctx, operations.DeadLetter{MessageID: fmt.Sprint("m-", i), Handler: "h", Topic: "t", Reason: "boom"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		method, path, body, want string
	}{
		{http.MethodGet, "/admin/dead-letters?limit=2", "", `"more":true`},
		{http.MethodGet, "/admin/dead-letters?limit=2&ids=m-1,m-2", "", `"more":false`},
		// Without a limit of its own a request acts on 10 000 at most.
		{http.MethodPost, "/admin/dead-letters/replay", `{"all": true, "dryRun": true}`, `"limitReached":true`},
		{http.MethodPost, "/admin/dead-letters/replay", `{"all": true, "dryRun": true, "limit": 10}`, `"success":true,"report"`},
	} {
		status, body := serve(h, tt.method, tt.path, tt.body, bearer)
		if status != http.StatusOK || !strings.Contains(body, tt.want) {
			t.Errorf("%s %s %s: %d %.200s, want %s", tt.method, tt.path, tt.body, status, body, tt.want)
		}
	}
}

// The admin API answers as the rest of the API does: one code for a bad
// parameter with its rule said once, 405 with the methods the path takes,
// and the dead letters' counts at a route of their own.
func TestTheAdminAPIAnswersConsistently(t *testing.T) {
	t.Parallel()
	h := adminHandler(t)
	status, body := serve(h, http.MethodPost, "/admin/dead-letters/replay", `{"maxReplays": -1}`, bearer)
	if status != http.StatusBadRequest || !strings.Contains(body, `"code":"invalid_parameter"`) || strings.Count(body, "invalid argument") > 0 {
		t.Errorf("bad parameter: %d %s", status, body)
	}
	for _, path := range []string{"/admin/replay", "/admin/dead-letters/replay", "/admin/projections/rebuild"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", bearer["Authorization"])
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != http.MethodPost {
			t.Errorf("GET %s: %d, Allow %q", path, w.Code, w.Header().Get("Allow"))
		}
	}
	if status, body := serve(h, http.MethodGet, "/admin/dead-letters/stats", "", bearer); status != http.StatusOK || !strings.Contains(body, `"stats"`) {
		t.Errorf("stats: %d %s", status, body)
	}
}

// HEAD is answered on every GET route, as GET is; a 405 names the methods.
func TestHeadIsAnsweredWhereGetIs(t *testing.T) {
	t.Parallel()
	h := adminHandler(t)
	for path, want := range map[string]int{"/livez": http.StatusOK, "/admin/dead-letters": http.StatusOK} {
		req := httptest.NewRequest(http.MethodHead, path, nil)
		req.Header.Set("Authorization", bearer["Authorization"])
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != want {
			t.Errorf("HEAD %s: %d, want %d", path, w.Code, want)
		}
	}
	req := httptest.NewRequest(http.MethodDelete, "/livez", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET" {
		t.Errorf("DELETE /livez: %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}
}
