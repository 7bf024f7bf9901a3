package service_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"shop/app/eventstore"
	"shop/app/operations"
	"shop/cqrs/metadata"
	"shop/domain/money"
	"shop/domain/order"
	"shop/infrastructure/notifier/notifiertest"
	"shop/ports/opsview"
	"shop/service"
)

type erasureAnswer struct {
	Erasure opsview.Erasure `json:"erasure"`
}

// A customer's contact is stored and published sealed, and opened to be
// sent. Erasing the customer deletes the key and overwrites what an earlier
// version stored in clear: afterwards no stored document, on MongoDB read
// as it is, holds the contact, also after a replay and a rebuild; the orders
// stay queryable, a later notification is withheld (erased) rather than
// sent, and another customer's data is untouched.
func TestAnErasedCustomersPersonalDataIsGone(t *testing.T) {
	forBackends(t, func(be backend) bool { return be.name == "gochannel-memory" || be.mongo }, func(t *testing.T, be backend) {
		p := startProviders(t)
		s := startShop(t, be, withConfig(func(c *service.Config) {
			p.configure(c)
			c.AdminToken = adminToken
			// Snapshots of the order once cancelled, after the erasure, and
			// of correspondences along the way: taken from what the processes
			// hold, they must not bring the contact back under a new key.
			c.SnapshotEvery = map[string]int{"order": 3, "notification": 4}
			// The earlier version's order comes from a dead process's relay:
			// taken over at once.
			c.RelaySweepAge = 200 * time.Millisecond
		}))
		bearer := map[string]string{"Authorization": "Bearer " + adminToken}
		s.addProduct("p", 10)
		const customer = "c-erased"
		secrets := []string{"ada@example.com", "+4915112345678", "4915112345678", "device-token-ada-0001", "ada-before@example.com"}

		body := orderBody(customer, item{"p", 1, "5"})
		body["contact"] = map[string]any{"email": "ada@example.com", "phone": "+4915112345678", "deviceToken": "device-token-ada-0001"}
		published := subscribeEvents(t, s, order.AggregateType, 0)
		id := s.placeOrderOnPartition(0, body)
		// Published sealed, as stored.
		for waiting := true; waiting; {
			select {
			case m := <-published:
				m.Ack()
				if m.Metadata.Get(metadata.AggregateIDKey) != id || m.Metadata.Get(metadata.NameKey) != "order.placed" {
					continue
				}
				if payload := string(m.Payload); !strings.Contains(payload, `"Email":"pd1:`) || slices.ContainsFunc(secrets[:4], func(v string) bool { return strings.Contains(payload, v) }) {
					t.Fatalf("published: %s", payload)
				}
				waiting = false
			case <-time.After(30 * time.Second):
				t.Fatal("the placement was not published")
			}
		}
		keep := orderBody("c-kept", item{"p", 1, "5"})
		keep["contact"] = map[string]any{"email": "bob@example.com"}
		kept := s.placeOrder(keep)
		s.waitOrder(id, "CONFIRMED")
		s.waitOrder(kept, "CONFIRMED")
		waitStatuses(t, s, id, 6, "sent")
		waitStatuses(t, s, kept, 2, "sent")
		if !slices.ContainsFunc(p.mail.Messages(), func(m notifiertest.Received) bool { return m.To == "ada@example.com" }) {
			t.Fatal("the mail did not go to the address in clear")
		}
		for _, n := range s.notifications(id) {
			if want := map[string]string{"email": "a***@example.com", "sms": "+49***78", "push": "devi***"}[n.Channel]; n.Recipient != want {
				t.Fatalf("%s recipient %q, want %q", n.Channel, n.Recipient, want)
			}
		}
		// Sealed from the start: no document holds the contact.
		if found := s.documentsHolding(secrets[:4]); len(found) > 0 {
			t.Fatalf("personal data stored in clear: %s", strings.Join(found, "\n"))
		}

		// An order of the customer's that an earlier version stored, the
		// contact in clear, published and notified; a dead letter quotes it.
		legacy := uuid.NewString()
		placed := &order.Placed{
			OrderID: legacy, CustomerID: customer, Items: []order.Item{{ProductID: "p", ProductName: "p", Quantity: 1, UnitPrice: money.Amount(500)}},
			Contact: order.Contact{Email: "ada-before@example.com"}, Total: 500, PlacedAt: time.Now().UTC(),
		}
		s.appendAsADeadProcess(service.Orders, eventstore.Record{
			EventID: uuid.NewString(), AggregateType: order.AggregateType, AggregateID: legacy, Version: 1,
			Type: placed.EventName(), Event: placed, OccurredAt: placed.PlacedAt,
		})
		s.waitOrder(legacy, "CONFIRMED")
		waitStatuses(t, s, legacy, 2, "sent")
		ops := s.system(service.Orders).Operations()
		if err := ops.Archive(context.Background(), operations.DeadLetter{
			ID: "legacy-dead-letter", MessageID: uuid.NewString(), Handler: "inventory.order-policy.p0", Topic: "order",
			EventType: placed.EventName(), AggregateID: legacy, AggregateVersion: 1, Reason: "a bug, since fixed",
			Payload:       []byte(`{"OrderID":"` + legacy + `","CustomerID":"` + customer + `","Contact":{"Email":"ada-before@example.com"}}`),
			FirstFailedAt: time.Now(), LastFailedAt: time.Now(), Failures: 1, Status: operations.StatusFailed,
		}); err != nil {
			t.Fatal(err)
		}
		// A later event of the legacy order waits behind a dead letter of its
		// handler, quoting the contact too.
		if err := s.platform().Parking.Park(context.Background(), operations.ParkedMessage{
			Lane:      operations.Lane{Handler: "notifications.orders.p0", AggregateID: legacy},
			MessageID: uuid.NewString(), AggregateVersion: 2, Topic: "order", ParkedAt: time.Now(),
			Payload: []byte(`{"OrderID":"` + legacy + `","Contact":{"Email":"ada-before@example.com"}}`),
		}); err != nil {
			t.Fatal(err)
		}
		if found := s.documentsHolding([]string{"ada-before@example.com"}); len(found) == 0 {
			t.Fatal("the earlier version's data in clear is not where the test put it")
		}

		if r := s.do(http.MethodPost, service.Orders, "/admin/customers/"+customer+"/erase", nil, nil); r.status != http.StatusUnauthorized {
			t.Fatalf("erase without the token: %d %s", r.status, r.raw)
		}
		r := s.do(http.MethodPost, service.Orders, "/admin/customers/"+customer+"/erase", nil, bearer)
		e := decodePart[erasureAnswer](t, r).Erasure
		if r.status != http.StatusOK || !e.KeyDeleted || e.CustomerID != customer || len(e.Orders) != 2 ||
			!slices.Contains(e.Orders, id) || !slices.Contains(e.Orders, legacy) || e.EventsRedacted != 1 || e.DeadLettersRedacted != 1 || e.ParkedRedacted != 1 {
			t.Fatalf("erase: %d %s", r.status, r.raw)
		}

		// The orders stay; what comes next is not sent.
		if got := s.waitOrder(id, "CONFIRMED"); got.CustomerID != customer || got.Contact != nil {
			t.Fatalf("order after erasure: %+v", got)
		}
		if list := decode[orderListAnswer](t, s.get(service.Orders, "/orders?customerId="+customer)); len(list.Orders) != 2 {
			t.Fatalf("the customer's orders after erasure: %+v", list)
		}
		mails, sms, push := p.counts()
		s.post(service.Orders, "/orders/"+id+"/cancel", nil)
		s.post(service.Orders, "/orders/"+legacy+"/cancel", nil)
		s.waitOrder(id, "CANCELLED")
		s.waitOrder(legacy, "CANCELLED")
		if got := waitStatuses(t, s, legacy, 3, ""); got["order_cancelled/email"] != "erased" {
			t.Fatalf("the earlier version's order after erasure: %v", got)
		}
		got := waitStatuses(t, s, id, 9, "")
		for _, n := range s.notifications(id) {
			if n.Recipient != "" || n.LastError != "" {
				t.Fatalf("a notification shows the erased address: %+v", n)
			}
		}
		for _, ch := range []string{"email", "sms", "push"} {
			if got["order_cancelled/"+ch] != "erased" || got["order_created/"+ch] != "sent" {
				t.Fatalf("notifications after erasure: %v", got)
			}
		}
		if m, sm, pu := p.counts(); m != mails || sm != sms || pu != push {
			t.Fatalf("sent after erasure: mails %d → %d, sms %d → %d, pushes %d → %d", mails, m, sms, sm, push, pu)
		}
		for _, n := range s.notifications(kept) {
			if n.Recipient != "b***@example.com" {
				t.Fatalf("another customer's notification: %+v", n)
			}
		}

		// A replay and a rebuild bring nothing back.
		if r := s.do(http.MethodPost, service.Orders, "/admin/replay", `{"eventType": "order.placed"}`, bearer); r.status != http.StatusOK {
			t.Fatalf("replay: %d %s", r.status, r.raw)
		}
		if r := s.do(http.MethodPost, service.Orders, "/admin/projections/rebuild", `{}`, bearer); r.status != http.StatusOK {
			t.Fatalf("rebuild: %d %s", r.status, r.raw)
		}
		s.waitOrder(id, "CANCELLED")
		waitStatuses(t, s, legacy, 3, "")
		if found := s.documentsHolding(secrets); len(found) > 0 {
			t.Fatalf("personal data after erasure: %s", strings.Join(found, "\n"))
		}
		if found := s.documentsHolding([]string{"bob@example.com"}); len(found) > 0 {
			t.Fatalf("another customer's data stored in clear: %s", strings.Join(found, "\n"))
		}
		if be.mongo {
			if found := s.documentsHolding([]string{`"_id":"` + customer + `"`}); len(found) > 0 {
				t.Fatalf("the erased customer has a key again: %s", strings.Join(found, "\n"))
			}
		}

		// Again, from the command line: nothing left to do.
		code, out, errOut := s.cli("customers", "erase", customer, "--json")
		var again erasureAnswer
		if err := json.Unmarshal([]byte(out), &again.Erasure); code != 0 || err != nil || again.Erasure.KeyDeleted || again.Erasure.EventsRedacted != 0 ||
			again.Erasure.DeadLettersRedacted != 0 || len(again.Erasure.Orders) != 2 {
			t.Fatalf("second erasure: %d %s %s", code, out, errOut)
		}
		if code, out, _ := s.cli("customers", "erase", "c-never-seen"); code != 0 || !strings.Contains(out, "none (nothing sealed, or erased before)") {
			t.Fatalf("erasure of an unknown customer: %d %s", code, out)
		}
		if r := s.do(http.MethodPost, service.Orders, "/admin/customers/%20/erase", nil, bearer); r.status != http.StatusBadRequest {
			t.Fatalf("erase of a blank id: %d %s", r.status, r.raw)
		}
	})
}

// waitStatuses waits until the order has n notifications, none pending and,
// unless want is empty, all of status want; it returns them by kind/channel.
func waitStatuses(t *testing.T, s *shop, orderID string, n int, want string) map[string]string {
	t.Helper()
	var got map[string]string
	if !eventually(30*time.Second, func() bool {
		got = map[string]string{}
		for _, x := range s.notifications(orderID) {
			if x.Status == "pending" || (want != "" && x.Status != want) {
				return false
			}
			got[x.Kind+"/"+x.Channel] = x.Status
		}
		return len(got) == n
	}) {
		t.Fatalf("order %s: notifications %+v, want %d %s", orderID, s.notifications(orderID), n, want)
	}
	return got
}

// documentsHolding lists what holds any of values: on MongoDB every document
// of the shop's databases, read as stored; in memory every stored event's
// payload, every dead letter's and every parked message's.
func (s *shop) documentsHolding(values []string) []string {
	s.t.Helper()
	ctx := context.Background()
	holds := func(text string) bool {
		return slices.ContainsFunc(values, func(v string) bool { return strings.Contains(text, v) })
	}
	var found []string
	if !s.backend.mongo {
		for _, name := range service.AllServices {
			for rec, err := range s.store(name).Read(ctx, eventstore.Filter{}) {
				if err != nil {
					s.t.Fatal(err)
				}
				if holds(string(rec.Payload)) {
					found = append(found, name+": "+string(rec.Payload))
				}
			}
		}
		letters, err := s.system(service.Orders).Operations().DeadLetters(ctx, operations.DeadLetterFilter{})
		if err != nil {
			s.t.Fatal(err)
		}
		for _, d := range letters {
			if holds(string(d.Payload)) {
				found = append(found, "dead letter: "+string(d.Payload))
			}
		}
		parking := s.platform().Parking
		lanes, err := parking.Count(ctx)
		if err != nil {
			s.t.Fatal(err)
		}
		for lane := range lanes {
			parked, err := parking.Parked(ctx, lane)
			if err != nil {
				s.t.Fatal(err)
			}
			for _, m := range parked {
				if holds(string(m.Payload)) {
					found = append(found, "parked: "+string(m.Payload))
				}
			}
		}
		return found
	}
	client, err := mongo.Connect(options.Client().ApplyURI(s.cfg.MongoURL))
	if err != nil {
		s.t.Fatal(err)
	}
	defer func() { _ = client.Disconnect(ctx) }()
	names, err := client.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		s.t.Fatal(err)
	}
	for _, db := range names {
		if !strings.HasPrefix(db, s.cfg.MongoDatabasePrefix) {
			continue
		}
		collections, err := client.Database(db).ListCollectionNames(ctx, bson.D{})
		if err != nil {
			s.t.Fatal(err)
		}
		for _, coll := range collections {
			cursor, err := client.Database(db).Collection(coll).Find(ctx, bson.D{})
			if err != nil {
				s.t.Fatal(err)
			}
			for cursor.Next(ctx) {
				text, err := bson.MarshalExtJSON(cursor.Current, false, false)
				if err != nil {
					s.t.Fatal(err)
				}
				// Payloads kept as bytes (dead letters) read as base64 in
				// JSON: look at them as they are too.
				if holds(string(text)) || holds(string(cursor.Current)) {
					found = append(found, db+"."+coll+": "+string(text))
				}
			}
			if err := cursor.Err(); err != nil {
				s.t.Fatal(err)
			}
			_ = cursor.Close(ctx)
		}
	}
	return found
}

// subscribeEvents reads a partition of an aggregate type's events as a
// consumer group of the test's own, from now on.
func subscribeEvents(t *testing.T, s *shop, aggregateType string, partition int) <-chan *message.Message {
	t.Helper()
	p := s.platform()
	topic := p.Topics.Events(aggregateType, partition)
	if err := p.Bus.Declare(context.Background(), testEventsGroup, topic); err != nil {
		t.Fatal(err)
	}
	return subscribe(t, s, testEventsGroup, topic)
}
