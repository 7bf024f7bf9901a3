package service

// Names of the message handlers. They name queues and consumer groups on the
// broker: renaming one starts its queue afresh, so they are constants, listed
// here in one place.
const (
	handlerConfirmOrder            = "orders.confirm-order"
	handlerRejectOrder             = "orders.reject-order"
	handlerOrdersReservations      = "orders.reservation-policy"
	handlerOrdersProjection        = "orders.order-projection"
	handlerReserveStock            = "inventory.reserve-stock"
	handlerReleaseStock            = "inventory.release-stock"
	handlerInventoryOrders         = "inventory.order-policy"
	handlerInventoryProjection     = "inventory.product-projection"
	handlerSendNotification        = "notifications.send-notification"
	handlerNotificationsOrders     = "notifications.order-policy"
	handlerNotificationsProjection = "notifications.notification-projection"
)
