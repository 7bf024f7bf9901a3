package memory

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"shop/app/orders"
	"shop/app/readmodel"
)

// OrderViews is the orders read model in memory.
type OrderViews struct {
	mu         sync.RWMutex
	byID       map[string]orders.OrderView
	byCustomer map[string]map[string]struct{}
}

// NewOrderViews returns an empty read model.
func NewOrderViews() *OrderViews {
	return &OrderViews{byID: map[string]orders.OrderView{}, byCustomer: map[string]map[string]struct{}{}}
}

func (m *OrderViews) Create(_ context.Context, v orders.OrderView) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byID[v.ID]; ok {
		return nil
	}
	if apply, err := readmodel.ShouldApply(0, v.Version); err != nil || !apply {
		return err
	}
	m.byID[v.ID] = v
	ids := m.byCustomer[v.CustomerID]
	if ids == nil {
		ids = map[string]struct{}{}
		m.byCustomer[v.CustomerID] = ids
	}
	ids[v.ID] = struct{}{}
	return nil
}

func (m *OrderViews) Update(_ context.Context, id string, version int, c orders.OrderChange) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.byID[id]
	apply, err := readmodel.ShouldApply(v.Version, version)
	if err != nil || !apply {
		return err
	}
	if v.ID == "" {
		return errors.New("order view update: the first event of an order creates its view")
	}
	v.Status, v.UpdatedAt, v.Version = c.Status, c.UpdatedAt, version
	if c.Rejections != nil {
		v.Rejections = c.Rejections
	}
	if c.CancelReason != "" {
		v.CancelReason = c.CancelReason
	}
	m.byID[id] = v
	return nil
}

func (m *OrderViews) Get(_ context.Context, id string) (orders.OrderView, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.byID[id]
	if !ok {
		return orders.OrderView{}, orders.ErrOrderNotFound
	}
	return v, nil
}

func (m *OrderViews) List(_ context.Context, f orders.OrderFilter) (orders.OrderPage, error) {
	m.mu.RLock()
	var matches []orders.OrderView
	consider := func(v orders.OrderView) {
		if (f.Status.IsZero() || v.Status == f.Status) && (f.After == nil || f.After.Before(v)) {
			matches = append(matches, v)
		}
	}
	if f.CustomerID != "" {
		for id := range m.byCustomer[f.CustomerID] {
			consider(m.byID[id])
		}
	} else {
		for _, v := range m.byID {
			consider(v)
		}
	}
	m.mu.RUnlock()

	slices.SortFunc(matches, func(a, b orders.OrderView) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	page := orders.OrderPage{Orders: matches}
	if f.Limit > 0 && len(matches) > f.Limit {
		page.Orders = matches[:f.Limit]
		last := page.Orders[f.Limit-1]
		page.Next = &orders.OrderCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	return page, nil
}
