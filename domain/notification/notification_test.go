package notification_test

import (
	"encoding/json"
	"errors"
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

func TestSentOnce(t *testing.T) {
	t.Parallel()
	n := notification.New("o-1", notification.KindOrderConfirmed, notification.ChannelEmail)
	if n.ID() != "o-1:order_confirmed:email" {
		t.Fatalf("id %q", n.ID())
	}
	if err := n.RecordSent("a@b.c", t0); err != nil {
		t.Fatal(err)
	}
	if err := n.RecordSent("a@b.c", t0); !errors.Is(err, notification.ErrFinal) {
		t.Fatalf("second send: %v", err)
	}
	if n.Status() != notification.StatusSent || n.Attempts() != 1 {
		t.Fatalf("status %s attempts %d", n.Status(), n.Attempts())
	}
}

func TestFailuresAreCountedThenGivenUp(t *testing.T) {
	t.Parallel()
	n := notification.New("o-1", notification.KindOrderCreated, notification.ChannelSMS)
	for i := 1; i <= 3; i++ {
		if err := n.RecordFailure("+123456789", "gateway down", 3, t0); err != nil {
			t.Fatal(err)
		}
		wantFinal := i == 3
		if n.IsFinal() != wantFinal || n.Attempts() != i {
			t.Fatalf("after %d: final %v attempts %d", i, n.IsFinal(), n.Attempts())
		}
	}
	if n.Status() != notification.StatusFailed || n.LastError() != "gateway down" {
		t.Fatalf("status %s error %q", n.Status(), n.LastError())
	}
	again, err := notification.FromHistory(n.ID(), n.Changes())
	if err != nil || again.Status() != notification.StatusFailed || again.Attempts() != 3 || again.OrderID() != "o-1" || again.Channel() != notification.ChannelSMS {
		t.Fatalf("rebuilt %+v %v", again, err)
	}
}

func TestASentNotificationAfterAFailureKeepsItsAttempts(t *testing.T) {
	t.Parallel()
	n := notification.New("o-1", notification.KindOrderCreated, notification.ChannelLog)
	_ = n.RecordFailure("", "boom", 3, t0)
	_ = n.RecordSent("a@b.c", t0)
	if n.Status() != notification.StatusSent || n.Attempts() != 2 {
		t.Fatalf("status %s attempts %d", n.Status(), n.Attempts())
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
	blank, err := notification.FromHistory(id, nil)
	if err != nil || blank.OrderID() != "ord:with:colons" || blank.IsFinal() || blank.Version() != 0 {
		t.Fatalf("blank %+v %v", blank, err)
	}
}

func TestAMalformedRecipientIsGivenUpAtOnce(t *testing.T) {
	t.Parallel()
	n := notification.New("o-1", notification.KindOrderCreated, notification.ChannelEmail)
	_ = n.RecordFailure("x@", "recipient refused", 0, t0)
	if n.Status() != notification.StatusFailed || n.Attempts() != 1 {
		t.Fatalf("status %s attempts %d", n.Status(), n.Attempts())
	}
}
