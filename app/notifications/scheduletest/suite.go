// Package scheduletest is the contract of the stores that keep
// notifications until their next attempt is due.
package scheduletest

import (
	"context"
	"sync"
	"testing"
	"time"

	"shop/app/notifications"
	"shop/domain/notification"
)

// Schedule runs the contract; newSchedule returns an empty schedule.
func Schedule(t *testing.T, newSchedule func(t *testing.T) notifications.Schedule) {
	ctx := context.Background()
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	cmd := func(order string) notifications.SendNotification {
		return notifications.SendNotification{OrderID: order, Kind: notification.KindOrderConfirmed, Subject: "Order confirmed", Body: "Your order " + order + " is confirmed."}
	}
	t.Run("a command is taken once due, whole, and held", func(t *testing.T) {
		s := newSchedule(t)
		if err := s.Put(ctx, cmd("o-1"), t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Take(ctx, t0, 10, time.Minute); err != nil || len(got) != 0 {
			t.Fatalf("before it is due: %+v %v", got, err)
		}
		got, err := s.Take(ctx, t0.Add(time.Minute), 10, time.Minute)
		if err != nil || len(got) != 1 || got[0].Command != cmd("o-1") || !got[0].Due.Equal(t0.Add(time.Minute)) {
			t.Fatalf("once due: %+v %v", got, err)
		}
		if again, _ := s.Take(ctx, t0.Add(90*time.Second), 10, time.Minute); len(again) != 0 {
			t.Fatalf("taken again while held: %+v", again)
		}
		// Not done (its taker died): taken again once the hold is over.
		if again, _ := s.Take(ctx, t0.Add(2*time.Minute), 10, time.Minute); len(again) != 1 {
			t.Fatalf("after the hold: %+v", again)
		}
	})
	t.Run("done forgets it, unless it was put again since", func(t *testing.T) {
		s := newSchedule(t)
		_ = s.Put(ctx, cmd("o-1"), t0)
		_ = s.Put(ctx, cmd("o-2"), t0)
		got, _ := s.Take(ctx, t0, 10, time.Minute)
		if len(got) != 2 {
			t.Fatalf("taken %+v", got)
		}
		// o-2's attempt failed again while taken: put again for later.
		if err := s.Put(ctx, cmd("o-2"), t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		for _, sc := range got {
			if err := s.Done(ctx, sc); err != nil {
				t.Fatal(err)
			}
		}
		later, _ := s.Take(ctx, t0.Add(2*time.Hour), 10, time.Minute)
		if len(later) != 1 || later[0].Command.OrderID != "o-2" || !later[0].Due.Equal(t0.Add(time.Hour)) {
			t.Fatalf("kept %+v", later)
		}
	})
	t.Run("the earliest first, at most n", func(t *testing.T) {
		s := newSchedule(t)
		for order, second := range map[string]int{"o-3": 3, "o-1": 1, "o-2": 2} {
			_ = s.Put(ctx, cmd(order), t0.Add(time.Duration(second)*time.Second))
		}
		got, err := s.Take(ctx, t0.Add(time.Minute), 2, time.Minute)
		if err != nil || len(got) != 2 || got[0].Command.OrderID != "o-1" || got[1].Command.OrderID != "o-2" {
			t.Fatalf("taken %+v %v", got, err)
		}
	})
	t.Run("two takers at once get each command once", func(t *testing.T) {
		s := newSchedule(t)
		for _, order := range []string{"o-1", "o-2", "o-3", "o-4", "o-5", "o-6"} {
			_ = s.Put(ctx, cmd(order), t0)
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				got, err := s.Take(ctx, t0, 10, time.Minute)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				for _, sc := range got {
					seen[sc.Command.OrderID]++
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(seen) != 6 {
			t.Fatalf("taken %v, want each of 6", seen)
		}
		for order, n := range seen {
			if n != 1 {
				t.Fatalf("%s taken %d times", order, n)
			}
		}
	})
}
