package service_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"shop/app/eventstore"
	appinventory "shop/app/inventory"
	"shop/app/notifications"
	"shop/app/orders"
	"shop/domain/es"
	"shop/domain/inventory"
	"shop/domain/money"
	"shop/domain/notification"
	"shop/domain/order"
	"shop/ports/opsview"
	"shop/service"
)

// sameAsWholeStream checks that, cut anywhere, a snapshot of the first
// events, stored as the codec stores it, and the events after it rebuild the
// aggregate that the whole stream rebuilds: the same version, the same state.
func sameAsWholeStream[A eventstore.Aggregate](t *testing.T, id string, history []es.Event, fromHistory func(string, []es.Event) (A, error), codec eventstore.SnapshotCodec[A]) {
	t.Helper()
	whole, err := fromHistory(id, history)
	if err != nil {
		t.Fatal(err)
	}
	want, err := codec.Encode(whole)
	if err != nil {
		t.Fatal(err)
	}
	for cut := 0; cut <= len(history); cut++ {
		head, err := fromHistory(id, history[:cut])
		if err != nil {
			t.Fatal(err)
		}
		state, err := codec.Encode(head)
		if err != nil {
			t.Fatal(err)
		}
		restored, err := codec.Restore(id, cut, state, history[cut:])
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		got, err := codec.Encode(restored)
		if err != nil {
			t.Fatal(err)
		}
		if restored.Version() != whole.Version() || restored.ID() != id || string(got) != string(want) {
			t.Fatalf("cut at %d: version %d, state\n%s\nwant version %d, state\n%s", cut, restored.Version(), got, whole.Version(), want)
		}
		if !reflect.DeepEqual(restored, whole) {
			t.Fatalf("cut at %d: %+v\nwant %+v", cut, restored, whole)
		}
	}
}

// changes runs commands on an aggregate and returns the events they recorded.
func changes[A eventstore.Aggregate](t *testing.T, a A, commands ...func(A) error) []es.Event {
	t.Helper()
	for i, c := range commands {
		if err := c(a); err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
	}
	return a.Changes()
}

func TestASnapshotAndTheEventsAfterItRebuildEveryAggregateType(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	registry, err := service.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]bool{}
	// Every event goes through the codec, as the store would hand it back.
	stored := func(events []es.Event) []es.Event {
		out := make([]es.Event, len(events))
		for i, e := range events {
			version, data, err := registry.Encode(e)
			if err != nil {
				t.Fatal(err)
			}
			if out[i], err = registry.Decode(e.EventName(), version, data); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}

	t.Run("stock", func(t *testing.T) {
		s, err := inventory.AddProduct("p", "Mouse", 5, now)
		if err != nil {
			t.Fatal(err)
		}
		history := stored(changes(t, s,
			func(s *inventory.Stock) error { return s.Restock(10, now) },
			func(s *inventory.Stock) error { return s.Reserve("o-1", 3, now) },
			func(s *inventory.Stock) error { return s.Reserve("o-2", 4, now) },
			func(s *inventory.Stock) error { return s.Release("o-1", now) },
			func(s *inventory.Stock) error { return s.Restock(2, now) },
		))
		sameAsWholeStream(t, "p", history, inventory.StockFromHistory, appinventory.StockSnapshots())
		checked[inventory.StockAggregateType] = true
	})
	t.Run("reservation", func(t *testing.T) {
		r := inventory.NewReservation("o-1")
		history := stored(changes(t, r,
			func(r *inventory.Reservation) error {
				return r.Confirm([]inventory.Line{{ProductID: "p", Quantity: 2}, {ProductID: "q", Quantity: 1}}, now)
			},
			func(r *inventory.Reservation) error { return r.Cancel(now) },
		))
		sameAsWholeStream(t, "o-1", history, inventory.ReservationFromHistory, appinventory.ReservationSnapshots())
		checked[inventory.ReservationAggregateType] = true
	})
	t.Run("order", func(t *testing.T) {
		for name, last := range map[string]func(*order.Order) error{
			"cancelled": func(o *order.Order) error { return o.Cancel("changed my mind", now) },
			"rejected": func(o *order.Order) error {
				return o.Reject([]order.ItemRejection{{ProductID: "p", Reason: "insufficient_stock", Requested: 2, Available: 1}}, now)
			},
		} {
			o, err := order.Place("o-1", "c-1", []order.Item{{ProductID: "p", ProductName: "Mouse", Quantity: 2, UnitPrice: money.Amount(1999)}},
				order.Contact{Email: "ada@example.com", Phone: "+4915112345678"}, now)
			if err != nil {
				t.Fatal(err)
			}
			commands := []func(*order.Order) error{last}
			if name == "cancelled" {
				commands = []func(*order.Order) error{func(o *order.Order) error { return o.Confirm(now) }, last}
			}
			history := stored(changes(t, o, commands...))
			sameAsWholeStream(t, "o-1", history, order.FromHistory, orders.Snapshots())
		}
		checked[order.AggregateType] = true
	})
	t.Run("correspondence", func(t *testing.T) {
		c, err := notification.FromHistory("o-1", nil)
		if err != nil {
			t.Fatal(err)
		}
		email, sms, push := notification.ChannelEmail, notification.ChannelSMS, notification.ChannelPush
		history := stored(changes(t, c,
			func(c *notification.Correspondence) error {
				return c.NoteRecipient("c-1", notification.Contact{Email: "pd1:k:a", Phone: "pd1:k:b", DeviceToken: "pd1:k:c"},
					[]notification.Item{{ProductID: "p", ProductName: "Mouse", Quantity: 2, UnitPrice: 1999}}, 3998, now)
			},
			func(c *notification.Correspondence) error {
				return c.RecordFailure(notification.KindOrderCreated, email, "pd1:k:a", "pd1:k:busy", 3, now)
			},
			func(c *notification.Correspondence) error {
				return c.RecordSent(notification.KindOrderCreated, email, "pd1:k:a", now)
			},
			func(c *notification.Correspondence) error {
				return c.RecordLogged(notification.KindOrderCreated, push, "pd1:k:c", now)
			},
			func(c *notification.Correspondence) error {
				return c.RecordRefusal(notification.KindOrderCreated, sms, "pd1:k:b", "pd1:k:refused", now)
			},
			func(c *notification.Correspondence) error {
				return c.RecordWithheld(notification.KindOrderConfirmed, email, now)
			},
			func(c *notification.Correspondence) error {
				return c.RecordFailure(notification.KindOrderConfirmed, sms, "pd1:k:b", "pd1:k:down", 1, now)
			},
		))
		sameAsWholeStream(t, "o-1", history, notification.FromHistory, notifications.Snapshots())
		checked[notification.AggregateType] = true
	})
	missing := map[string]bool{}
	for _, name := range registry.Names() {
		if aggregateType, _ := registry.AggregateType(name); !checked[aggregateType] {
			missing[aggregateType] = true
		}
	}
	for aggregateType := range missing {
		t.Errorf("aggregate type %s: no snapshot check", aggregateType)
	}
}

type snapshotsAnswer struct {
	Snapshots []opsview.SnapshotRebuild `json:"snapshots"`
}

// With every aggregate type snapshotted every few events, the system works
// as it does without: the snapshots are taken as the streams grow, the
// orders are decided and told, the stock adds up; and the operators rebuild
// the snapshots from every event, from the command line and the admin API.
func TestSnapshottedStreamsWorkAsWholeOnes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startShop(t, be, withConfig(func(c *service.Config) {
			c.AdminToken = adminToken
			c.SnapshotEvery = map[string]int{"stock": 3, "order": 2, "reservation": 1, "notification": 2}
		}))
		s.addProduct("p", 10)
		for range 5 {
			if r := s.post(service.Inventory, "/products/p/restock", map[string]any{"quantity": 2}); r.status != http.StatusOK {
				t.Fatalf("restock: %d %s", r.status, r.raw)
			}
		}
		var ids []string
		for range 4 {
			ids = append(ids, s.placeOrder(orderBody("c", item{"p", 2, "5"})))
		}
		for _, id := range ids {
			s.waitOrder(id, "CONFIRMED")
		}
		s.post(service.Orders, "/orders/"+ids[0]+"/cancel", nil)
		s.waitOrder(ids[0], "CANCELLED")
		s.waitProduct("p", 14, 6)
		for _, id := range ids {
			if len(s.waitNotifications(id, map[bool]int{true: 3, false: 2}[id == ids[0]])) == 0 {
				t.Fatalf("order %s: no notifications", id)
			}
		}

		code, out, errOut := s.cli("snapshots", "rebuild", "--json")
		var reports []opsview.SnapshotRebuild
		if err := json.Unmarshal([]byte(out), &reports); code != 0 || err != nil {
			t.Fatalf("rebuild: %d %s %s", code, out, errOut)
		}
		taken := map[string][2]int{}
		for _, r := range reports {
			taken[r.AggregateType] = [2]int{r.Streams, r.Taken}
		}
		// p has 1 + 5 + 4 reservations + 1 release = 11 events; each order
		// 2 or 3, each reservation 1 or 2, each correspondence 3 or 5.
		want := map[string][2]int{"stock": {1, 1}, "order": {4, 4}, "reservation": {4, 4}, "notification": {4, 4}}
		if be.bus != service.BusGoChannel && !be.mongo {
			// In memory, the orders process's tools reach its own data only.
			want = map[string][2]int{"order": {4, 4}}
		}
		if !maps.Equal(taken, want) {
			t.Fatalf("rebuilt %v, want %v", taken, want)
		}
		bearer := map[string]string{"Authorization": "Bearer " + adminToken}
		r := s.do(http.MethodPost, service.Orders, "/admin/snapshots/rebuild", `{"aggregateType": "order"}`, bearer)
		if got := decodePart[snapshotsAnswer](t, r).Snapshots; r.status != http.StatusOK || len(got) != 1 || got[0].Taken != 4 {
			t.Fatalf("admin rebuild: %d %s", r.status, r.raw)
		}
		if r := s.do(http.MethodPost, service.Orders, "/admin/snapshots/rebuild", `{"aggregateType": "cart"}`, bearer); r.status != http.StatusBadRequest {
			t.Fatalf("an unknown type: %d %s", r.status, r.raw)
		}
		if code, _, errOut := s.cli("snapshots", "rebuild", "--aggregate-type", "cart"); code != 2 || !strings.Contains(errOut, "no snapshots") {
			t.Fatalf("an unknown type from the command line: %d %s", code, errOut)
		}
		// A change after the rebuild: the stock goes on from where it stood.
		if r := s.post(service.Inventory, "/products/p/restock", map[string]any{"quantity": 1}); r.status != http.StatusOK {
			t.Fatalf("restock: %d %s", r.status, r.raw)
		}
		s.waitProduct("p", 15, 6)
	})
}
