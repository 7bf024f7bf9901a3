package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"shop/app/eventstore"
	"shop/app/operations"
	"shop/domain/order"
	"shop/ports/cli"
	"shop/service"
)

// buggyStore fails every append of one event type while broken, as a bug in
// the handler that appends it would: a permanent failure.
type buggyStore struct {
	eventstore.Store
	eventType string
	broken    atomic.Bool
}

func (b *buggyStore) Append(ctx context.Context, records []eventstore.Record) error {
	if b.broken.Load() && records[0].Type == b.eventType {
		return errors.New("bug: nil pointer in the confirmation")
	}
	return b.Store.Append(ctx, records)
}

const adminToken = "test-admin-token-0123456789"

func startShopWithBug(t *testing.T, be backend) (*shop, *buggyStore) {
	bug := &buggyStore{eventType: (&order.Confirmed{}).EventName()}
	bug.broken.Store(true)
	s := startShop(t, be,
		withConfig(func(c *service.Config) { c.AdminToken = adminToken; c.Router.MaxRetries = 1 }),
		withAdapters(service.Adapters{Store: func(name string, st eventstore.Store) eventstore.Store {
			if name != service.Orders {
				return st
			}
			bug.Store = st
			return bug
		}}))
	return s, bug
}

// shopCLI runs the shop command line on the operations of the shop's orders process.
func (s *shop) cli(args ...string) (int, string, string) {
	s.t.Helper()
	var out, errOut bytes.Buffer
	ops := s.system(service.Orders).Operations()
	code := cli.Run(context.Background(), args, cli.Env{
		System: service.CommandLine{},
		Lookup: func(string) (string, bool) { return "", false },
		Stdout: &out, Stderr: &errOut,
		Operations: func(context.Context) (*operations.Operations, func() error, error) {
			return ops, func() error { return nil }, nil
		},
	})
	return code, out.String(), errOut.String()
}

func (s *shop) deadLetters(status operations.Status) []operations.DeadLetter {
	s.t.Helper()
	list, err := s.system(service.Orders).Operations().DeadLetters(context.Background(), operations.DeadLetterFilter{Statuses: []operations.Status{status}})
	if err != nil {
		s.t.Fatal(err)
	}
	return list
}

func (s *shop) waitDeadLetters(status operations.Status, n int) []operations.DeadLetter {
	s.t.Helper()
	var got []operations.DeadLetter
	if !eventually(30*time.Second, func() bool { got = s.deadLetters(status); return len(got) == n }) {
		s.t.Fatalf("%d %s dead letters, want %d: %+v", len(got), status, n, got)
	}
	return got
}

func decodeReport(t *testing.T, out string) map[string]any {
	t.Helper()
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	return r
}

func TestAHandlerBugIsFixedAndItsDeadLettersReplayed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		s, bug := startShopWithBug(t, be)
		s.addProduct("p", 100)
		var ids []string
		for range 3 {
			ids = append(ids, s.placeOrder(orderBody("c", item{"p", 2, "5"})))
		}
		dead := s.waitDeadLetters(operations.StatusFailed, 3)
		for _, d := range dead {
			if d.EventType != "inventory.reservation_confirmed" || !strings.HasPrefix(d.Handler, "orders.reservation-policy.p") || !strings.Contains(d.Reason, "nil pointer") || d.Failures != 1 {
				t.Fatalf("dead letter %+v", d)
			}
		}
		for _, id := range ids {
			if st := str(s.get(service.Orders, "/orders/"+id).body, "order", "status"); st != "PENDING" {
				t.Fatalf("order %s is %s", id, st)
			}
		}

		// A dry run shows what would happen, with a histogram, and changes nothing.
		code, out, errOut := s.cli("poison", "replay", "--handler", "orders.reservation-policy", "--dry-run")
		if code != cli.ExitOK || !strings.Contains(out, "dry run: 3 would be replayed") || !strings.Contains(out, "orders.reservation-policy") || !strings.Contains(out, "nil pointer") {
			t.Fatalf("dry run: %d\n%s\n%s", code, out, errOut)
		}
		if again := s.deadLetters(operations.StatusFailed); len(again) != 3 || again[0].Replays != 0 {
			t.Fatalf("the dry run changed the dead letters: %+v", again)
		}

		// The fix, then the replay.
		bug.broken.Store(false)
		code, out, errOut = s.cli("poison", "replay", "--handler", "orders.reservation-policy", "--json", "--rate", "200", "--by", "alice")
		report := decodeReport(t, out)
		if code != cli.ExitOK || report["published"] != 3.0 || report["selected"] != 3.0 {
			t.Fatalf("replay: %d\n%s\n%s", code, out, errOut)
		}
		for _, id := range ids {
			s.waitOrder(id, "CONFIRMED")
			s.waitNotifications(id, 2)
		}
		replayed := s.waitDeadLetters(operations.StatusReplayed, 3)
		if replayed[0].Replays != 1 || len(replayed[0].History) != 1 || replayed[0].History[0].By != "alice" {
			t.Fatalf("replayed %+v", replayed[0])
		}
		// A second replay finds nothing left to do.
		code, out, _ = s.cli("poison", "replay", "--all", "--json")
		if code != cli.ExitOK || decodeReport(t, out)["selected"] != 0.0 {
			t.Fatalf("second replay: %d %s", code, out)
		}

		// Replaying stored events is absorbed: consumers deduplicate, projections keep versions.
		inventoryBefore := countRecords(t, s.store(service.Inventory))
		notificationsBefore := countRecords(t, s.store(service.Notifications))
		code, out, errOut = s.cli("replay", "--event-type", "order.placed", "--json")
		if code != cli.ExitOK || decodeReport(t, out)["published"] != 3.0 {
			t.Fatalf("event replay: %d\n%s\n%s", code, out, errOut)
		}
		barrier := s.placeOrder(orderBody("c", item{"p", 1, "5"}))
		s.waitOrder(barrier, "CONFIRMED")
		s.waitNotifications(barrier, 2)
		if got := countRecords(t, s.store(service.Inventory)); got != inventoryBefore+2 {
			t.Fatalf("inventory events %d → %d", inventoryBefore, got)
		}
		// The barrier's: its recipient noted, and its two notifications.
		if got := countRecords(t, s.store(service.Notifications)); got != notificationsBefore+3 {
			t.Fatalf("notification events %d → %d", notificationsBefore, got)
		}
		s.waitProduct("p", 93, 7)

		// The log of replays says who did what.
		runs, err := s.system(service.Orders).Operations().RecentRuns(context.Background(), 10)
		if err != nil || len(runs) != 3 || runs[2].By != "alice" || runs[0].Kind != "events" {
			t.Fatalf("runs %+v %v", runs, err)
		}
	})
}

func TestAMessageReplayedTooOftenIsQuarantined(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		s, _ := startShopWithBug(t, be)
		s.addProduct("p", 10)
		id := s.placeOrder(orderBody("c", item{"p", 1, "5"}))
		s.waitDeadLetters(operations.StatusFailed, 1)

		// The bug is still there: the replayed message fails again and comes
		// back to the same dead letter, with its replay counted.
		if code, out, errOut := s.cli("poison", "replay", "--all", "--max-replays", "1"); code != cli.ExitOK {
			t.Fatalf("replay: %d %s %s", code, out, errOut)
		}
		var d []operations.DeadLetter
		if !eventually(30*time.Second, func() bool {
			d = s.deadLetters(operations.StatusFailed)
			return len(d) == 1 && d[0].Failures == 2
		}) {
			t.Fatalf("dead letters %+v", d)
		}
		if d[0].Replays != 1 {
			t.Fatalf("replays %d", d[0].Replays)
		}
		code, out, _ := s.cli("poison", "replay", "--all", "--max-replays", "1", "--json")
		if report := decodeReport(t, out); code != cli.ExitOK || report["quarantined"] != 1.0 || report["published"] != 0.0 {
			t.Fatalf("second replay: %d %s", code, out)
		}
		s.waitDeadLetters(operations.StatusQuarantined, 1)
		if code, out, _ := s.cli("poison", "replay", "--all", "--json"); decodeReport(t, out)["selected"] != 0.0 || code != cli.ExitOK {
			t.Fatalf("a quarantined message was replayed again: %s", out)
		}
		// An operator looks, and discards it; the order stays as it is.
		code, out, errOut := s.cli("poison", "discard", "--status", "quarantined", "--handler", "orders.reservation-policy")
		if code != cli.ExitOK || !strings.Contains(out, "discarded 1 of 1") {
			t.Fatalf("discard: %d %s %s", code, out, errOut)
		}
		s.waitDeadLetters(operations.StatusDiscarded, 1)
		code, out, _ = s.cli("poison", "stats", "--json")
		if code != cli.ExitOK || !strings.Contains(out, `"total": 1`) || !strings.Contains(out, `"key": "discarded"`) {
			t.Fatalf("stats: %s", out)
		}
		if st := str(s.get(service.Orders, "/orders/"+id).body, "order", "status"); st != "PENDING" {
			t.Fatalf("order is %s", st)
		}
	})
}

func TestARebuildReproducesTheLiveReadModels(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startShop(t, be)
		s.addProduct("p", 5)
		s.addProduct("q", 100)
		var ids []string
		for i := range 8 {
			ids = append(ids, s.placeOrder(orderBody("c", item{"p", 1, "5"}, item{"q", i + 1, "1.5"})))
		}
		s.post(service.Orders, "/orders/"+ids[0]+"/cancel", nil)
		for _, id := range ids {
			// Decided, and the customer told of the decision.
			if !eventually(30*time.Second, func() bool {
				st := str(s.get(service.Orders, "/orders/"+id).body, "order", "status")
				kind := map[string]string{"CONFIRMED": "order_confirmed", "REJECTED": "order_rejected", "CANCELLED": "order_cancelled"}[st]
				sent := map[string]bool{}
				for _, n := range s.notifications(id) {
					sent[n.Kind] = n.Status == "logged"
				}
				return kind != "" && sent["order_created"] && sent[kind]
			}) {
				t.Fatalf("order %s never decided", id)
			}
		}
		snapshot := func() map[string]any {
			views := map[string]any{
				"orders":   s.get(service.Orders, "/orders?customerId=c&limit=100").body,
				"products": s.get(service.Inventory, "/products?limit=100").body,
			}
			for _, id := range ids {
				views["notifications "+id] = s.get(service.Notifications, "/notifications?orderId="+id).body
			}
			return views
		}
		// The last events reach the read models: two looks in a row agree.
		var live map[string]any
		if !eventually(10*time.Second, func() bool {
			before := snapshot()
			time.Sleep(50 * time.Millisecond)
			live = snapshot()
			return reflect.DeepEqual(before, live)
		}) {
			t.Fatal("the read models did not settle")
		}

		// Queries keep working while the read models are rebuilt.
		stop := make(chan struct{})
		failures := make(chan string, 100)
		go func() {
			for {
				select {
				case <-stop:
					close(failures)
					return
				default:
				}
				for _, path := range []string{"/orders/" + ids[1]} {
					if r := s.get(service.Orders, path); r.status != http.StatusOK {
						failures <- string(r.raw)
					}
				}
			}
		}()
		code, out, errOut := s.cli("projections", "rebuild", "--json")
		close(stop)
		for f := range failures {
			t.Errorf("query during the rebuild: %s", f)
		}
		var reports []map[string]any
		// In memory, a process rebuilds the read models of the services it runs.
		projections := s.system(service.Orders).Operations().Projections()
		if err := json.Unmarshal([]byte(out), &reports); err != nil || code != cli.ExitOK || len(reports) != len(projections) {
			t.Fatalf("rebuild: %d %s %s", code, out, errOut)
		}
		// Every reader follows the swap once its pointer's time to live is
		// over (a second); until then it may still read the old collection,
		// which would compare equal without showing the rebuilt one.
		time.Sleep(2500 * time.Millisecond)
		if rebuilt := snapshot(); !reflect.DeepEqual(live, rebuilt) {
			a, _ := json.MarshalIndent(live, "", " ")
			b, _ := json.MarshalIndent(rebuilt, "", " ")
			t.Fatalf("rebuilt read models differ:\nlive %s\nrebuilt %s", a, b)
		}
		// The rebuilt read models follow new events.
		id := s.placeOrder(orderBody("c", item{"q", 1, "1"}))
		s.waitOrder(id, "CONFIRMED")
		s.waitNotifications(id, 2)
	})
}

func TestTheAdminAPI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		s, bug := startShopWithBug(t, be)
		s.addProduct("p", 10)
		id := s.placeOrder(orderBody("c", item{"p", 1, "5"}))
		s.waitDeadLetters(operations.StatusFailed, 1)
		bearer := map[string]string{"Authorization": "Bearer " + adminToken}
		for _, header := range []map[string]string{nil, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": adminToken}} {
			if r := s.do(http.MethodGet, service.Orders, "/admin/dead-letters", nil, header); r.status != http.StatusUnauthorized || decode[errorAnswer](t, r).Error.Code != "unauthorized" {
				t.Fatalf("%v: %d %s", header, r.status, r.raw)
			}
		}
		r := s.do(http.MethodGet, service.Orders, "/admin/dead-letters?status=failed", nil, bearer)
		dead := decodePart[deadLettersAnswer](t, r).DeadLetters
		if r.status != http.StatusOK || len(dead) != 1 {
			t.Fatalf("dead letters: %d %s", r.status, r.raw)
		}
		dlID := dead[0].ID
		if r := s.do(http.MethodGet, service.Orders, "/admin/dead-letters/"+dlID, nil, bearer); r.status != http.StatusOK || decodePart[deadLetterAnswer](t, r).DeadLetter.Payload.OrderID != id {
			t.Fatalf("dead letter: %d %s", r.status, r.raw)
		}
		for body, want := range map[string]int{
			`{"dryRun": true, "since": "yesterday"}`:            http.StatusBadRequest,
			`{"ids": ["nope"]}`:                                 http.StatusNotFound,
			`{"limit": -1}`:                                     http.StatusBadRequest,
			`{"maxReplays": -1}`:                                http.StatusBadRequest,
			`{"since": "2030-01-02", "until": "2030-01-01"}`:    http.StatusBadRequest,
			`{"ids": ["` + dlID + `"], "dryRun": true, "x": 1}`: http.StatusBadRequest,
		} {
			if r := s.do(http.MethodPost, service.Orders, "/admin/dead-letters/replay", body, bearer); r.status != want {
				t.Fatalf("%s: %d %s", body, r.status, r.raw)
			}
		}
		bug.broken.Store(false)
		r = s.do(http.MethodPost, service.Orders, "/admin/dead-letters/replay", `{"ids": ["`+dlID+`"]}`, bearer)
		if r.status != http.StatusOK || decodePart[reportAnswer](t, r).Report.Published != 1 {
			t.Fatalf("replay: %d %s", r.status, r.raw)
		}
		s.waitOrder(id, "CONFIRMED")
		r = s.do(http.MethodPost, service.Orders, "/admin/replay", `{"eventType": "order.placed", "dryRun": true}`, bearer)
		if r.status != http.StatusOK || decodePart[reportAnswer](t, r).Report.Selected != 1 {
			t.Fatalf("event replay: %d %s", r.status, r.raw)
		}
		for body, want := range map[string]int{
			`{"eventIds": ["no-such-event"]}`:                      http.StatusBadRequest,
			`{"status": "pending"}`:                                http.StatusBadRequest,
			`{"status": "failed", "aggregateId": "x"}`:             http.StatusBadRequest,
			`{"startDate": "2030-01-02", "endDate": "2030-01-01"}`: http.StatusBadRequest,
			`{"status": "failed", "maxReplays": -1}`:               http.StatusBadRequest,
			`{"dryRun": true}`:                                     http.StatusBadRequest,
		} {
			if r := s.do(http.MethodPost, service.Orders, "/admin/replay", body, bearer); r.status != want {
				t.Fatalf("%s: %d %s", body, r.status, r.raw)
			}
		}
		r = s.do(http.MethodGet, service.Orders, "/admin/replay/stats", nil, bearer)
		if stats := decodePart[statsAnswer](t, r); r.status != http.StatusOK || stats.DeadLetters.Total != 1 || len(stats.RecentRuns) != 1 {
			t.Fatalf("stats: %d %s", r.status, r.raw)
		}
		r = s.do(http.MethodPost, service.Orders, "/admin/projections/rebuild", `{"projection": "orders"}`, bearer)
		if r.status != http.StatusOK || len(decodePart[rebuildsAnswer](t, r).Rebuilds) != 1 {
			t.Fatalf("rebuild: %d %s", r.status, r.raw)
		}
		if r := s.do(http.MethodPost, service.Orders, "/admin/projections/rebuild", `{"projection": "carts"}`, bearer); r.status != http.StatusNotFound {
			t.Fatalf("unknown projection: %d %s", r.status, r.raw)
		}
	})
}

func TestTheAdminAPIIsOffWithoutAToken(t *testing.T) {
	t.Parallel()
	s := startShop(t, backends[0])
	r := s.do(http.MethodGet, service.Orders, "/admin/dead-letters", nil, map[string]string{"Authorization": "Bearer anything-at-all-here"})
	if r.status != http.StatusNotFound {
		t.Fatalf("%d %s", r.status, r.raw)
	}
}

func TestOperatorCommandsRefuseBadInput(t *testing.T) {
	t.Parallel()
	s := startShop(t, backends[0])
	s.addProduct("p", 10)
	s.waitOrder(s.placeOrder(orderBody("c", item{"p", 1, "5"})), "CONFIRMED")
	events := countRecords(t, s.store(service.Orders))
	for _, args := range [][]string{
		{"poison"},
		{"poison", "explode"},
		{"poison", "list", "--bogus"},
		{"poison", "list", "--since", "last tuesday"},
		{"poison", "list", "--since", "2030-01-02", "--until", "2030-01-01"},
		{"poison", "list", "--status", "lost"},
		{"poison", "show"},
		{"poison", "show", "no-such-id"},
		{"poison", "replay", "--delay", "1s", "--rate", "5"},
		{"poison", "replay", "--ids", "no-such-id"},
		{"poison", "replay", "--all", "--max-replays", "0"},
		{"poison", "replay"},
		{"poison", "replay", "--status", "failed", "--limit", "5"},
		{"poison", "list", "--rate", "5"},
		{"poison", "show", "--handler", "h", "some-id"},
		{"poison", "discard"},
		{"poison", "discard", "--all"},
		{"replay", "--start-date", "2030-13-01"},
		{"replay", "--start-date", "2030-01-02", "--end-date", "2030-01-01"},
		{"replay", "--status", "pending"},
		{"replay", "--status", "failed", "--aggregate-id", "x"},
		{"replay", "--event-ids", "no-such-event"},
		{"replay", "--services", "payments"},
		{"replay", "--limit", "-1"},
		{"replay", "--status", "failed", "--max-replays", "0"},
		{"replay"},
		{"projections"},
		{"projections", "rebuild", "--projection", "carts"},
	} {
		code, out, errOut := s.cli(args...)
		if code != cli.ExitUsage || errOut == "" {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	if got := countRecords(t, s.store(service.Orders)); got != events {
		t.Fatalf("bad commands changed the store: %d → %d events", events, got)
	}
}
