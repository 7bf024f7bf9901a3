package memory

import (
	"context"
	"slices"
	"strings"
	"sync"

	"shop/app/notifications"
	"shop/app/readmodel"
)

// NotificationViews is the notifications read model in memory.
type NotificationViews struct {
	mu      sync.RWMutex
	byID    map[string]notifications.NotificationView
	byOrder map[string][]string
}

// NewNotificationViews returns an empty read model.
func NewNotificationViews() *NotificationViews {
	return &NotificationViews{byID: map[string]notifications.NotificationView{}, byOrder: map[string][]string{}}
}

func (m *NotificationViews) Put(_ context.Context, v notifications.NotificationView) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, exists := m.byID[v.ID]
	apply, err := readmodel.ShouldApply(stored.Version, v.Version)
	if err != nil || !apply {
		return err
	}
	m.byID[v.ID] = v
	if !exists {
		m.byOrder[v.OrderID] = append(m.byOrder[v.OrderID], v.ID)
	}
	return nil
}

func (m *NotificationViews) ByOrder(_ context.Context, orderID string) ([]notifications.NotificationView, error) {
	m.mu.RLock()
	views := make([]notifications.NotificationView, 0, len(m.byOrder[orderID]))
	for _, id := range m.byOrder[orderID] {
		views = append(views, m.byID[id])
	}
	m.mu.RUnlock()
	slices.SortFunc(views, func(a, b notifications.NotificationView) int {
		if c := strings.Compare(a.Kind.String(), b.Kind.String()); c != 0 {
			return c
		}
		return strings.Compare(a.Channel.String(), b.Channel.String())
	})
	return views, nil
}

// Recipients keeps whom each order's notifications go to, in memory.
type Recipients struct {
	mu      sync.RWMutex
	byOrder map[string]notifications.Recipient
}

// NewRecipients returns an empty store.
func NewRecipients() *Recipients {
	return &Recipients{byOrder: map[string]notifications.Recipient{}}
}

func (m *Recipients) Save(_ context.Context, r notifications.Recipient) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byOrder[r.OrderID]; !ok {
		m.byOrder[r.OrderID] = r
	}
	return nil
}

func (m *Recipients) Get(_ context.Context, orderID string) (notifications.Recipient, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	r, ok := m.byOrder[orderID]
	if !ok {
		return notifications.Recipient{}, notifications.ErrRecipientNotFound
	}
	return r, nil
}
