package service

import (
	"shop/cqrs"
	domaininventory "shop/domain/inventory"
	"shop/domain/order"
)

// Topology lists every consumer group of the whole system, whichever services
// this process runs. Each process declares all of them when it starts, so that
// what one service publishes before another first starts waits in the
// other's queue (RabbitMQ drops messages an exchange has no queue for) or
// stream group (the trimmer keeps what a group has not read). A test checks
// that it matches the handlers the services register.
func Topology(topics cqrs.Topics) []cqrs.Binding {
	events := []struct {
		aggregateType string
		groups        []string
	}{
		{order.AggregateType, []string{handlerOrdersProjection, handlerInventoryOrders, handlerNotificationsOrders}},
		{domaininventory.ReservationAggregateType, []string{handlerOrdersReservations}},
		{domaininventory.StockAggregateType, []string{handlerInventoryProjection}},
	}
	bindings := []cqrs.Binding{{ConsumerGroup: cqrs.DeadLetterArchiveGroup, Topic: topics.Poison()}}
	for p := range topics.Partitions {
		for _, e := range events {
			for _, g := range e.groups {
				bindings = append(bindings, cqrs.Binding{ConsumerGroup: cqrs.PartitionName(g, p), Topic: topics.Events(e.aggregateType, p)})
			}
		}
	}
	return bindings
}
