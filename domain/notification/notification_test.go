package notification_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"shop/domain/notification"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestDeliveriesFollowTheContact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		contact notification.Contact
		want    []notification.Channel
	}{
		{notification.Contact{}, []notification.Channel{notification.ChannelLog}},
		{notification.Contact{Email: "a@b.c"}, []notification.Channel{notification.ChannelEmail}},
		{notification.Contact{Email: "a@b.c", Phone: "+123456789", DeviceToken: "t"},
			[]notification.Channel{notification.ChannelEmail, notification.ChannelSMS, notification.ChannelPush}},
	}
	for _, tt := range tests {
		got := notification.DeliveriesFor(tt.contact)
		if len(got) != len(tt.want) {
			t.Fatalf("%+v: %+v", tt.contact, got)
		}
		for i := range got {
			if got[i].Channel != tt.want[i] {
				t.Fatalf("%+v: %+v", tt.contact, got)
			}
		}
	}
}

func placedWith(t *testing.T, contact notification.Contact) *notification.Correspondence {
	t.Helper()
	c, err := notification.FromHistory("o-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.NoteRecipient("c-1", contact, nil, 999, t0); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNothingIsDueBeforeTheRecipientIsKnown(t *testing.T) {
	t.Parallel()
	c, _ := notification.FromHistory("o-1", nil)
	if _, err := c.Due(notification.KindOrderConfirmed); !errors.Is(err, notification.ErrRecipientUnknown) {
		t.Fatalf("due before the placement: %v", err)
	}
	c = placedWith(t, notification.Contact{Email: "a@b.c", Phone: "+123456789"})
	// A second note is a repeat of the same placement: the first one stays.
	if err := c.NoteRecipient("other", notification.Contact{}, nil, 1, t0); err != nil || len(c.Changes()) != 1 {
		t.Fatalf("second note: %v, %d changes", err, len(c.Changes()))
	}
	due, err := c.Due(notification.KindOrderCreated)
	if err != nil || len(due) != 2 || due[0].Channel != notification.ChannelEmail || due[1].Address != "+123456789" {
		t.Fatalf("due %+v %v", due, err)
	}
	if c.CustomerID() != "c-1" || c.Total() != 999 || c.Contact().Email != "a@b.c" {
		t.Fatalf("recipient %s %d %+v", c.CustomerID(), c.Total(), c.Contact())
	}
}

func TestSentOnce(t *testing.T) {
	t.Parallel()
	c := placedWith(t, notification.Contact{Email: "a@b.c"})
	if err := c.RecordSent(notification.KindOrderConfirmed, notification.ChannelEmail, "a@b.c", t0); err != nil {
		t.Fatal(err)
	}
	if err := c.RecordSent(notification.KindOrderConfirmed, notification.ChannelEmail, "a@b.c", t0); !errors.Is(err, notification.ErrFinal) {
		t.Fatalf("second send: %v", err)
	}
	n, ok := c.Notification(notification.KindOrderConfirmed, notification.ChannelEmail)
	if !ok || n.ID != "o-1:order_confirmed:email" || n.Status != notification.StatusSent || n.Attempts != 1 || n.Recipient != "a@b.c" {
		t.Fatalf("notification %+v", n)
	}
	if due, _ := c.Due(notification.KindOrderConfirmed); len(due) != 0 {
		t.Fatalf("due after sending: %+v", due)
	}
	if due, _ := c.Due(notification.KindOrderCancelled); len(due) != 1 {
		t.Fatalf("another kind is still due: %+v", due)
	}
}

func TestFailuresAreCountedThenGivenUp(t *testing.T) {
	t.Parallel()
	c := placedWith(t, notification.Contact{Phone: "+123456789"})
	for i := 1; i <= 3; i++ {
		if err := c.RecordFailure(notification.KindOrderCreated, notification.ChannelSMS, "+123456789", "gateway down", 3, t0); err != nil {
			t.Fatal(err)
		}
		n, _ := c.Notification(notification.KindOrderCreated, notification.ChannelSMS)
		if wantFinal := i == 3; n.IsFinal() != wantFinal || n.Attempts != i {
			t.Fatalf("after %d: %+v", i, n)
		}
	}
	again, err := notification.FromHistory("o-1", c.Changes())
	if err != nil {
		t.Fatal(err)
	}
	n, _ := again.Notification(notification.KindOrderCreated, notification.ChannelSMS)
	if n.Status != notification.StatusGivenUp || n.Attempts != 3 || n.LastError != "gateway down" || !again.Known() {
		t.Fatalf("rebuilt %+v", n)
	}
}

func TestASentNotificationAfterAFailureKeepsItsAttempts(t *testing.T) {
	t.Parallel()
	c := placedWith(t, notification.Contact{})
	_ = c.RecordFailure(notification.KindOrderCreated, notification.ChannelLog, "", "boom", 3, t0)
	_ = c.RecordSent(notification.KindOrderCreated, notification.ChannelLog, "", t0.Add(time.Second))
	n, _ := c.Notification(notification.KindOrderCreated, notification.ChannelLog)
	if n.Status != notification.StatusSent || n.Attempts != 2 || !n.UpdatedAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("notification %+v", n)
	}
}

func TestNotificationsAreListedByKindThenChannel(t *testing.T) {
	t.Parallel()
	c := placedWith(t, notification.Contact{Email: "a@b.c", Phone: "+123456789"})
	_ = c.RecordSent(notification.KindOrderCreated, notification.ChannelSMS, "+123456789", t0)
	_ = c.RecordSent(notification.KindOrderConfirmed, notification.ChannelEmail, "a@b.c", t0)
	_ = c.RecordSent(notification.KindOrderCreated, notification.ChannelEmail, "a@b.c", t0)
	var got []string
	for _, n := range c.Notifications() {
		got = append(got, n.ID)
	}
	want := []string{"o-1:order_confirmed:email", "o-1:order_created:email", "o-1:order_created:sms"}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
}

func TestEnumsTravelByName(t *testing.T) {
	t.Parallel()
	b, _ := json.Marshal(notification.Sent{Kind: notification.KindOrderRejected, Channel: notification.ChannelPush})
	var back notification.Sent
	if err := json.Unmarshal(b, &back); err != nil || back.Kind != notification.KindOrderRejected || back.Channel != notification.ChannelPush {
		t.Fatalf("%s → %+v %v", b, back, err)
	}
	if _, err := notification.KindFromString("order_shipped"); err == nil {
		t.Fatal("unknown kind accepted")
	}
	if _, err := notification.ChannelFromString("fax"); err == nil {
		t.Fatal("unknown channel accepted")
	}
}

func TestIDRoundTrips(t *testing.T) {
	t.Parallel()
	id := notification.ID("ord:with:colons", notification.KindOrderCancelled, notification.ChannelPush)
	orderID, kind, channel, err := notification.ParseID(id)
	if err != nil || orderID != "ord:with:colons" || kind != notification.KindOrderCancelled || channel != notification.ChannelPush {
		t.Fatalf("%q → %q %v %v %v", id, orderID, kind, channel, err)
	}
	for _, bad := range []string{"", "o-1", "o-1:order_created", ":order_created:email", "o-1:shipped:email", "o-1:order_created:fax"} {
		if _, _, _, err := notification.ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
}

func TestAMalformedRecipientIsGivenUpAtOnce(t *testing.T) {
	t.Parallel()
	c := placedWith(t, notification.Contact{Email: "x@y.z"})
	_ = c.RecordRefusal(notification.KindOrderCreated, notification.ChannelEmail, "x@y.z", "recipient refused", t0)
	n, _ := c.Notification(notification.KindOrderCreated, notification.ChannelEmail)
	if n.Status != notification.StatusFailed || n.Attempts != 1 {
		t.Fatalf("notification %+v", n)
	}
	again, err := notification.FromHistory(c.ID(), c.Changes())
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := again.Notification(notification.KindOrderCreated, notification.ChannelEmail); n.Status != notification.StatusFailed {
		t.Fatalf("from its history: %+v", n)
	}
}

func TestANotificationOnlyLoggedSaysSo(t *testing.T) {
	t.Parallel()
	c := placedWith(t, notification.Contact{Email: "x@y.z"})
	if err := c.RecordLogged(notification.KindOrderCreated, notification.ChannelEmail, "x@y.z", t0); err != nil {
		t.Fatal(err)
	}
	n, _ := c.Notification(notification.KindOrderCreated, notification.ChannelEmail)
	if n.Status != notification.StatusLogged || !n.IsFinal() {
		t.Fatalf("notification %+v", n)
	}
	if err := c.RecordSent(notification.KindOrderCreated, notification.ChannelEmail, "x@y.z", t0); !errors.Is(err, notification.ErrFinal) {
		t.Fatalf("sent after logged: %v", err)
	}
}
