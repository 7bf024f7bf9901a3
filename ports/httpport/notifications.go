package httpport

import (
	"log/slog"
	"net/http"

	"shop/app/notifications"
)

// NewNotificationsHandler is the HTTP API of the notifications service.
func NewNotificationsHandler(app notifications.Application, base Base) http.Handler {
	h := notificationsHandler{app: app, logger: base.Logger}
	r := newRouter(base)
	r.HandleFunc("/notifications", h.list).Methods(http.MethodGet)
	return r
}

type notificationsHandler struct {
	app    notifications.Application
	logger *slog.Logger
}

type notificationJSON struct {
	ID        string `json:"id"`
	OrderID   string `json:"orderId"`
	Kind      string `json:"kind"`
	Channel   string `json:"channel"`
	Recipient string `json:"recipient,omitempty"`
	Status    string `json:"status"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"lastError,omitempty"`
	UpdatedAt string `json:"updatedAt"`
}

func (h notificationsHandler) list(w http.ResponseWriter, r *http.Request) {
	orderID := r.URL.Query().Get("orderId")
	if orderID == "" {
		writeError(w, r, h.logger, badRequest("missing_parameter", "orderId is required: GET /notifications?orderId=..."))
		return
	}
	views, err := h.app.Queries.Notifications.Handle(r.Context(), notifications.ListNotifications{OrderID: orderID})
	if err != nil {
		writeError(w, r, h.logger, err)
		return
	}
	out := mapSlice(views, func(v notifications.NotificationView) notificationJSON {
		return notificationJSON{
			ID: v.ID, OrderID: v.OrderID, Kind: v.Kind.String(), Channel: v.Channel.String(), Recipient: v.Recipient,
			Status: v.Status.String(), Attempts: v.Attempts, LastError: v.LastError, UpdatedAt: v.UpdatedAt.UTC().Format(timeFormat),
		}
	})
	writeJSON(w, http.StatusOK, struct {
		Success       bool               `json:"success"`
		OrderID       string             `json:"orderId"`
		Notifications []notificationJSON `json:"notifications"`
	}{true, orderID, out})
}
