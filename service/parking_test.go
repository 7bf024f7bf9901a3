package service_test

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shop/app/eventstore"
	"shop/app/operations"
	"shop/cqrs"
	"shop/ports/cli"
	"shop/service"
)

// buggyProjection fails for good on one version of one product while
// broken, and notes the versions of that product it projected, in order.
type buggyProjection struct {
	cqrs.EventHandler
	product string
	version int
	broken  atomic.Bool

	mu        sync.Mutex
	projected []int
}

func (b *buggyProjection) Handle(ctx context.Context, rec eventstore.Record) error {
	if rec.AggregateID != b.product {
		return b.EventHandler.Handle(ctx, rec)
	}
	if b.broken.Load() && rec.Version == b.version {
		return errors.New("bug: the projection cannot read this restock")
	}
	if err := b.EventHandler.Handle(ctx, rec); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.projected = append(b.projected, rec.Version)
	return nil
}

func (b *buggyProjection) versions() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.projected)
}

func (s *shop) restock(product string, quantity int) {
	s.t.Helper()
	if r := s.post(service.Inventory, "/products/"+product+"/restock", map[string]any{"quantity": quantity}); r.status != http.StatusOK {
		s.t.Fatalf("restock %s: %d %s", product, r.status, r.raw)
	}
}

func (s *shop) parkedBehind(id string) int {
	s.t.Helper()
	d, err := s.system(service.Orders).Operations().DeadLetter(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	return d.Parked
}

func TestAProductsLaterEventsWaitBehindItsDeadLetterUntilItIsReplayed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		bug := &buggyProjection{product: "held", version: 2}
		bug.broken.Store(true)
		s := startShop(t, be,
			withConfig(func(c *service.Config) { c.AdminToken = adminToken; c.Router.MaxRetries = 1 }),
			withAdapters(service.Adapters{Handler: func(name string, h cqrs.EventHandler) cqrs.EventHandler {
				if name != "inventory.product-projection" {
					return h
				}
				bug.EventHandler = h
				return bug
			}}))
		s.addProduct("held", 10)
		s.addProduct("free", 10)
		s.waitProduct("held", 10, 0)

		// Version 2 fails for good; 3 and 4 arrive behind it and wait.
		s.restock("held", 1)
		dead := s.waitDeadLetters(operations.StatusFailed, 1)[0]
		if dead.AggregateID != "held" || dead.AggregateVersion != 2 || !strings.HasPrefix(dead.Handler, "inventory.product-projection.p") {
			t.Fatalf("dead letter %+v", dead)
		}
		s.restock("held", 2)
		s.restock("held", 4)
		// Another product flows throughout.
		for range 3 {
			s.restock("free", 5)
		}
		s.waitProduct("free", 25, 0)
		if !eventually(30*time.Second, func() bool { return s.parkedBehind(dead.ID) == 2 }) {
			t.Fatalf("%d messages parked behind %s, want 2", s.parkedBehind(dead.ID), dead.ID)
		}
		if available, _, _ := s.findProduct("held"); available != 10 || !slices.Equal(bug.versions(), []int{1}) {
			t.Fatalf("while held: available %d, projected versions %v", available, bug.versions())
		}

		// The operators see what waits: the command line and the admin API.
		code, out, errOut := s.cli("poison", "list")
		if code != cli.ExitOK || !regexp.MustCompile(`(?m)^ID .* PARKED .*\n`+regexp.QuoteMeta(dead.ID)+` +failed .* 0 +2 `).MatchString(out) {
			t.Fatalf("poison list: %d\n%s\n%s", code, out, errOut)
		}
		r := s.do(http.MethodGet, service.Orders, "/admin/dead-letters?status=failed", nil, map[string]string{"Authorization": "Bearer " + adminToken})
		if listed := decodePart[deadLettersAnswer](t, r).DeadLetters; r.status != http.StatusOK || len(listed) != 1 || listed[0].Parked != 2 {
			t.Fatalf("admin dead letters: %d %s", r.status, r.raw)
		}

		// The fix and the replay of 2 release 3 and 4, in order.
		bug.broken.Store(false)
		if code, out, errOut := s.cli("poison", "replay", "--ids", dead.ID); code != cli.ExitOK {
			t.Fatalf("replay: %d\n%s\n%s", code, out, errOut)
		}
		s.waitProduct("held", 17, 0)
		if got := bug.versions(); !slices.Equal(got, []int{1, 2, 3, 4}) {
			t.Fatalf("projected versions %v, want 1 2 3 4", got)
		}
		if n := s.parkedBehind(dead.ID); n != 0 {
			t.Fatalf("%d still parked", n)
		}
		// Counted where the operators' dashboards read.
		families := s.scrape(service.Inventory)
		for _, event := range []string{"parked", "released"} {
			if n, ok := value(families, "shop_parked_messages_total", map[string]string{"handler": "inventory.product-projection", "event": event}); !ok || n != 2 {
				t.Fatalf("shop_parked_messages_total{event=%q}: %v %v, want 2", event, n, ok)
			}
		}
		// The lane is free: the next restock is projected at once.
		s.restock("held", 8)
		s.waitProduct("held", 25, 0)
		s.waitProduct("free", 25, 0)
	})
}
