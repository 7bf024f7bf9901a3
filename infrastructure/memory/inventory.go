package memory

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"shop/app/inventory"
	"shop/app/readmodel"
)

// ProductViews is the products read model in memory.
type ProductViews struct {
	mu   sync.RWMutex
	byID map[string]inventory.ProductView
}

// NewProductViews returns an empty read model.
func NewProductViews() *ProductViews {
	return &ProductViews{byID: map[string]inventory.ProductView{}}
}

func (m *ProductViews) Create(_ context.Context, v inventory.ProductView) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byID[v.ProductID]; ok {
		return nil
	}
	if apply, err := readmodel.ShouldApply(0, v.Version); err != nil || !apply {
		return err
	}
	m.byID[v.ProductID] = v
	return nil
}

func (m *ProductViews) Update(_ context.Context, id string, version int, c inventory.StockChange) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.byID[id]
	apply, err := readmodel.ShouldApply(v.Version, version)
	if err != nil || !apply {
		return err
	}
	if v.ProductID == "" {
		return errors.New("product view update: the first event of a product creates its view")
	}
	v.Available += c.AvailableDelta
	v.Reserved += c.ReservedDelta
	v.UpdatedAt, v.Version = c.UpdatedAt, version
	m.byID[id] = v
	return nil
}

func (m *ProductViews) Get(_ context.Context, id string) (inventory.ProductView, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.byID[id]
	if !ok {
		return inventory.ProductView{}, inventory.ErrProductNotFound
	}
	return v, nil
}

func (m *ProductViews) List(_ context.Context, f inventory.ProductFilter) (inventory.ProductPage, error) {
	m.mu.RLock()
	var matches []inventory.ProductView
	for id, v := range m.byID {
		if id > f.After {
			matches = append(matches, v)
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(matches, func(a, b inventory.ProductView) int { return strings.Compare(a.ProductID, b.ProductID) })
	page := inventory.ProductPage{Products: matches}
	if f.Limit > 0 && len(matches) > f.Limit {
		page.Products = matches[:f.Limit]
		page.Next = page.Products[f.Limit-1].ProductID
	}
	return page, nil
}
