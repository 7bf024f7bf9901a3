package service

// Names of the message handlers. They name queues and consumer groups on the
// broker: renaming one starts its queue afresh, so they are constants, listed
// here in one place.
const (
	handlerOrdersReservations  = "orders.reservation-policy"
	handlerOrdersProjection    = "orders.order-projection"
	handlerInventoryOrders     = "inventory.order-policy"
	handlerInventoryProjection = "inventory.product-projection"
	handlerNotificationsOrders = "notifications.order-policy"
)
