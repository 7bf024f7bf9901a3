package memory

// Replace takes the contents of a rebuilt copy.
func (m *OrderViews) Replace(from *OrderViews) {
	from.mu.RLock()
	byID, byCustomer := from.byID, from.byCustomer
	from.mu.RUnlock()
	m.mu.Lock()
	m.byID, m.byCustomer = byID, byCustomer
	m.mu.Unlock()
}

// Replace takes the contents of a rebuilt copy.
func (m *ProductViews) Replace(from *ProductViews) {
	from.mu.RLock()
	byID := from.byID
	from.mu.RUnlock()
	m.mu.Lock()
	m.byID = byID
	m.mu.Unlock()
}
