package service

import (
	"shop/app/eventstore"
	"shop/domain/inventory"
	"shop/domain/notification"
	"shop/domain/order"
	"shop/infrastructure/metrics"
)

// businessCounter says which business counter a stored event moves.
func businessCounter(rec eventstore.Record) (string, []string) {
	switch e := rec.Event.(type) {
	case *order.Placed:
		return metrics.OrdersCounter, []string{"placed"}
	case *order.Confirmed:
		return metrics.OrdersCounter, []string{"confirmed"}
	case *order.Rejected:
		return metrics.OrdersCounter, []string{"rejected"}
	case *order.Cancelled:
		return metrics.OrdersCounter, []string{"cancelled"}
	case *inventory.ReservationConfirmed:
		return metrics.ReservationsCounter, []string{"confirmed"}
	case *inventory.ReservationRejected:
		return metrics.ReservationsCounter, []string{"rejected"}
	case *inventory.ReservationCancelled:
		return metrics.ReservationsCounter, []string{"cancelled"}
	case *notification.Sent:
		if e.Logged {
			return metrics.NotificationsCounter, []string{e.Channel.String(), "logged"}
		}
		return metrics.NotificationsCounter, []string{e.Channel.String(), "sent"}
	case *notification.DeliveryFailed:
		switch {
		case e.Permanent:
			return metrics.NotificationsCounter, []string{e.Channel.String(), "failed"}
		case e.GaveUp:
			return metrics.NotificationsCounter, []string{e.Channel.String(), "given_up"}
		}
		return metrics.NotificationsCounter, []string{e.Channel.String(), "attempt_failed"}
	}
	return "", nil
}
