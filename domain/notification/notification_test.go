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
	n := notification.New("o-1", notification.KindOrderConfirmed, notification.Delivery{Channel: notification.ChannelEmail, Address: "a@b.c"})
	if n.ID() != "o-1:order_confirmed:email" {
		t.Fatalf("id %q", n.ID())
	}
	if err := n.RecordSent(t0); err != nil {
		t.Fatal(err)
	}
	if err := n.RecordSent(t0); !errors.Is(err, notification.ErrFinal) {
		t.Fatalf("second send: %v", err)
	}
	if n.Status() != notification.StatusSent || n.Attempts() != 1 {
		t.Fatalf("status %s attempts %d", n.Status(), n.Attempts())
	}
}

func TestFailuresAreCountedThenGivenUp(t *testing.T) {
	t.Parallel()
	n := notification.New("o-1", notification.KindOrderCreated, notification.Delivery{Channel: notification.ChannelSMS, Address: "+123456789"})
	for i := 1; i <= 3; i++ {
		if err := n.RecordFailure("gateway down", 3, t0); err != nil {
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
	n := notification.New("o-1", notification.KindOrderCreated, notification.Delivery{Channel: notification.ChannelLog})
	_ = n.RecordFailure("boom", 3, t0)
	_ = n.RecordSent(t0)
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
