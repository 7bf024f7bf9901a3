package orders

// Application is everything the orders service can do, as its ports see it.
type Application struct {
	Commands Commands
	Queries  Queries
}

// Commands are the orders service's command handlers.
type Commands struct {
	PlaceOrder   PlaceOrderHandler
	CancelOrder  CancelOrderHandler
	ConfirmOrder ConfirmOrderHandler
	RejectOrder  RejectOrderHandler
}

// Queries are the orders service's query handlers.
type Queries struct {
	Order        GetOrderHandler
	Orders       ListOrdersHandler
	OrderHistory GetOrderHistoryHandler
}
