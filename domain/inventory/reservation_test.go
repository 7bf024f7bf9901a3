package inventory_test

import (
	"encoding/json"
	"errors"
	"testing"

	"shop/domain/inventory"
)

func TestReservationDecidesOnce(t *testing.T) {
	t.Parallel()
	r := inventory.NewReservation("o-1")
	lines := []inventory.Line{{ProductID: "p", Quantity: 1}}
	if err := r.Confirm(lines, t0); err != nil {
		t.Fatal(err)
	}
	if err := r.Confirm(lines, t0); !errors.Is(err, inventory.ErrReservationDecided) {
		t.Fatalf("second confirm: %v", err)
	}
	if err := r.Reject(nil, t0); !errors.Is(err, inventory.ErrReservationDecided) {
		t.Fatalf("reject after confirm: %v", err)
	}
	if r.IsOpen() || len(r.Lines()) != 1 {
		t.Fatalf("open %v lines %v", r.IsOpen(), r.Lines())
	}
}

func TestCancellingAConfirmedReservationReleasesItsLines(t *testing.T) {
	t.Parallel()
	r := inventory.NewReservation("o-1")
	_ = r.Confirm([]inventory.Line{{ProductID: "p", Quantity: 2}}, t0)
	if err := r.Cancel(t0); err != nil {
		t.Fatal(err)
	}
	e := r.Changes()[1].(*inventory.ReservationCancelled)
	if len(e.Released) != 1 || e.Released[0].Quantity != 2 || !r.IsCancelled() {
		t.Fatalf("cancelled %+v", e)
	}
	if err := r.Cancel(t0); err != nil || len(r.Changes()) != 2 {
		t.Fatalf("second cancel: %v, %d changes", err, len(r.Changes()))
	}
}

func TestACancelThatOvertakesTheReservationIsRemembered(t *testing.T) {
	t.Parallel()
	r := inventory.NewReservation("o-1")
	if err := r.Cancel(t0); err != nil {
		t.Fatal(err)
	}
	if err := r.Confirm([]inventory.Line{{ProductID: "p", Quantity: 1}}, t0); !errors.Is(err, inventory.ErrReservationDecided) {
		t.Fatalf("confirm after cancel: %v", err)
	}
	again, err := inventory.ReservationFromHistory("o-1", r.Changes())
	if err != nil || !again.IsCancelled() || again.Version() != 1 {
		t.Fatalf("rebuilt %+v %v", again, err)
	}
}

func TestRejectedReservationIgnoresCancel(t *testing.T) {
	t.Parallel()
	r := inventory.NewReservation("o-1")
	_ = r.Reject([]inventory.Shortage{{ProductID: "p", Reason: inventory.ReasonUnknownProduct, Requested: 1}}, t0)
	if err := r.Cancel(t0); err != nil || len(r.Changes()) != 1 {
		t.Fatalf("cancel of rejected: %v, %d changes", err, len(r.Changes()))
	}
}

func TestShortageReasonTravelsByName(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(inventory.Shortage{ProductID: "p", Reason: inventory.ReasonInsufficientStock})
	if err != nil {
		t.Fatal(err)
	}
	var back inventory.Shortage
	if err := json.Unmarshal(b, &back); err != nil || back.Reason != inventory.ReasonInsufficientStock {
		t.Fatalf("%s → %+v %v", b, back, err)
	}
	if err := json.Unmarshal([]byte(`{"Reason":"stolen"}`), &back); err == nil {
		t.Fatal("unknown reason decoded")
	}
}
