package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"shop/app/inventory"
	"shop/app/notifications"
	"shop/app/orders"
	"shop/app/readmodel"
	"shop/domain/money"
	"shop/domain/notification"
	"shop/domain/order"
)

// The read models keep the version guard of readmodel.ShouldApply without
// transactions: a write matches only the view at the version before the
// event's, and a write that matches nothing reads the stored version to tell
// a repeat (ignored) from a gap (retried by the caller).

var (
	_ orders.OrderViews      = (*OrderViews)(nil)
	_ inventory.ProductViews = (*ProductViews)(nil)
	_ notifications.Archive  = (*NotificationArchive)(nil)
)

// bsonTime is t as BSON keeps it, so that what is written is what is read back.
func bsonTime(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// parseEnum reads an enum back; the empty string is its zero value, which the
// in-memory adapters store as readily as any other.
func parseEnum[T any](s string, from func(string) (T, error)) (T, error) {
	if s == "" {
		var zero T
		return zero, nil
	}
	return from(s)
}

// storedVersion is the version of the view with that id, and whether it exists.
func storedVersion(ctx context.Context, c *Client, live *activeCollection, id string) (int, bool, error) {
	var doc struct {
		Version int `bson:"version"`
	}
	coll, err := live.get(ctx)
	if err != nil {
		return 0, false, err
	}
	err = c.do(ctx, func(ctx context.Context) error {
		return coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}},
			options.FindOne().SetProjection(bson.D{{Key: "version", Value: 1}})).Decode(&doc)
	})
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return doc.Version, true, nil
}

// insertFirst inserts the first version of a view. A view already there
// wins: events are delivered at least once, so the insert may be a repeat.
// Other versions are never inserted: a view starts at its first event.
func insertFirst(ctx context.Context, c *Client, live *activeCollection, id string, version int, doc any) error {
	if version != 1 {
		_, found, err := storedVersion(ctx, c, live, id)
		if err != nil || found {
			return err
		}
		_, err = readmodel.ShouldApply(0, version)
		return err
	}
	coll, err := live.get(ctx)
	if err != nil {
		return err
	}
	err = live.inserts(coll).insert(ctx, doc)
	if mongo.IsDuplicateKeyError(err) {
		return nil
	}
	return err
}

// guardedUpdate applies update to the view id if it is at version-1, and
// otherwise explains why not.
func guardedUpdate(ctx context.Context, c *Client, live *activeCollection, what, id string, version int, update bson.D) error {
	filter := bson.D{{Key: "_id", Value: id}, {Key: "version", Value: version - 1}}
	// Two rounds: the view may reach version-1 between the update that missed
	// and the read that follows, and then the event applies after all.
	for range 2 {
		coll, err := live.get(ctx)
		if err != nil {
			return fmt.Errorf("%s view %s: %w", what, id, err)
		}
		var matched int64
		err = c.do(ctx, func(ctx context.Context) error {
			res, err := coll.UpdateOne(ctx, filter, update)
			if err != nil {
				return err
			}
			matched = res.MatchedCount
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s view %s: %w", what, id, err)
		}
		if matched > 0 {
			return nil
		}
		stored, found, err := storedVersion(ctx, c, live, id)
		if err != nil {
			return fmt.Errorf("%s view %s: %w", what, id, err)
		}
		apply, err := readmodel.ShouldApply(stored, version)
		if err != nil || !apply {
			return err
		}
		if !found {
			return fmt.Errorf("%s view %s: only the first event creates a view", what, id)
		}
	}
	// Not a gap: other writers got there first twice; a plain failure, which
	// the router retries a bounded number of times.
	return fmt.Errorf("%s view %s keeps moving under event %d", what, id, version)
}

// Orders.

type orderDoc struct {
	ID           string         `bson:"_id"`
	CustomerID   string         `bson:"customerId"`
	Items        []itemDoc      `bson:"items"`
	Total        int64          `bson:"total"`
	Status       string         `bson:"status"`
	Rejections   []rejectionDoc `bson:"rejections,omitempty"`
	CancelReason string         `bson:"cancelReason,omitempty"`
	CreatedAt    time.Time      `bson:"createdAt"`
	UpdatedAt    time.Time      `bson:"updatedAt"`
	Version      int            `bson:"version"`
}

type itemDoc struct {
	ProductID   string `bson:"productId"`
	ProductName string `bson:"productName"`
	Quantity    int    `bson:"quantity"`
	UnitPrice   int64  `bson:"unitPrice"`
}

type rejectionDoc struct {
	ProductID string `bson:"productId"`
	Reason    string `bson:"reason"`
	Requested int    `bson:"requested"`
	Available int    `bson:"available"`
}

func rejectionDocs(rs []order.ItemRejection) []rejectionDoc {
	if rs == nil {
		return nil
	}
	docs := make([]rejectionDoc, len(rs))
	for i, r := range rs {
		docs[i] = rejectionDoc{ProductID: r.ProductID, Reason: r.Reason, Requested: r.Requested, Available: r.Available}
	}
	return docs
}

func toOrderDoc(v orders.OrderView) orderDoc {
	var items []itemDoc
	if v.Items != nil {
		items = make([]itemDoc, len(v.Items))
		for i, it := range v.Items {
			items[i] = itemDoc{ProductID: it.ProductID, ProductName: it.ProductName, Quantity: it.Quantity, UnitPrice: int64(it.UnitPrice)}
		}
	}
	return orderDoc{
		ID: v.ID, CustomerID: v.CustomerID, Items: items, Total: int64(v.Total), Status: v.Status.String(),
		Rejections: rejectionDocs(v.Rejections), CancelReason: v.CancelReason,
		CreatedAt: bsonTime(v.CreatedAt), UpdatedAt: bsonTime(v.UpdatedAt), Version: v.Version,
	}
}

func (d orderDoc) view() (orders.OrderView, error) {
	status, err := parseEnum(d.Status, order.StatusFromString)
	if err != nil {
		return orders.OrderView{}, fmt.Errorf("order view %s: %w", d.ID, err)
	}
	v := orders.OrderView{
		ID: d.ID, CustomerID: d.CustomerID, Total: money.Amount(d.Total), Status: status, CancelReason: d.CancelReason,
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(), Version: d.Version,
	}
	if d.Items != nil {
		v.Items = make([]order.Item, len(d.Items))
		for i, it := range d.Items {
			v.Items[i] = order.Item{ProductID: it.ProductID, ProductName: it.ProductName, Quantity: it.Quantity, UnitPrice: money.Amount(it.UnitPrice)}
		}
	}
	if d.Rejections != nil {
		v.Rejections = make([]order.ItemRejection, len(d.Rejections))
		for i, r := range d.Rejections {
			v.Rejections[i] = order.ItemRejection{ProductID: r.ProductID, Reason: r.Reason, Requested: r.Requested, Available: r.Available}
		}
	}
	return v, nil
}

// newestFirst is the order of OrderViews.List; the id breaks ties of orders
// placed in the same millisecond, so that the cursor is a total order.
var newestFirst = bson.D{{Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}

// OrderViews is the orders read model in the "orders" collection of the
// orders service's database.
type OrderViews struct {
	client *Client
	coll   *activeCollection
}

// NewOrderViews opens the read model and creates the indexes its listings
// need if they are missing.
func NewOrderViews(ctx context.Context, client *Client) (*OrderViews, error) {
	return openOrderViews(ctx, client, newActiveCollection(client, "orders", "orders"))
}

func openOrderViews(ctx context.Context, client *Client, coll *activeCollection) (*OrderViews, error) {
	v := &OrderViews{client: client, coll: coll}
	indexes := []mongo.IndexModel{
		// One index per shape of List's filter, each ending in its sort, so
		// that a page is read in index order and stops at the limit.
		{Keys: bson.D{{Key: "customerId", Value: 1}, {Key: "status", Value: 1}, {Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}, Options: options.Index().SetName("customer_status_newest")},
		{Keys: bson.D{{Key: "customerId", Value: 1}, {Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}, Options: options.Index().SetName("customer_newest")},
		{Keys: newestFirst, Options: options.Index().SetName("newest")},
	}
	live, err := v.coll.get(ctx)
	if err != nil {
		return nil, fmt.Errorf("order views indexes: %w", err)
	}
	if _, err := client.ensureIndexes(ctx, live, indexes); err != nil {
		return nil, fmt.Errorf("order views indexes: %w", err)
	}
	return v, nil
}

// Create inserts the view of a placed order; a repeat of the event finds it
// there and leaves it as it is.
func (v *OrderViews) Create(ctx context.Context, o orders.OrderView) error {
	if err := insertFirst(ctx, v.client, v.coll, o.ID, o.Version, toOrderDoc(o)); err != nil {
		return fmt.Errorf("create order view %s: %w", o.ID, err)
	}
	return nil
}

// Update applies the event of that version only on top of its predecessor;
// the rejections and the cancel reason are kept unless the event gives them.
func (v *OrderViews) Update(ctx context.Context, id string, version int, c orders.OrderChange) error {
	set := bson.D{{Key: "status", Value: c.Status.String()}, {Key: "updatedAt", Value: bsonTime(c.UpdatedAt)}, {Key: "version", Value: version}}
	if c.Rejections != nil {
		set = append(set, bson.E{Key: "rejections", Value: rejectionDocs(c.Rejections)})
	}
	if c.CancelReason != "" {
		set = append(set, bson.E{Key: "cancelReason", Value: c.CancelReason})
	}
	return guardedUpdate(ctx, v.client, v.coll, "order", id, version, bson.D{{Key: "$set", Value: set}})
}

// Get returns orders.ErrOrderNotFound for an order the read model has not
// seen yet, which may also be one placed a moment ago.
func (v *OrderViews) Get(ctx context.Context, id string) (orders.OrderView, error) {
	var doc orderDoc
	coll, err := v.coll.get(ctx)
	if err == nil {
		err = v.client.do(ctx, func(ctx context.Context) error {
			return coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc)
		})
	}
	if errors.Is(err, mongo.ErrNoDocuments) {
		return orders.OrderView{}, orders.ErrOrderNotFound
	}
	if err != nil {
		return orders.OrderView{}, fmt.Errorf("get order view %s: %w", id, err)
	}
	return doc.view()
}

// List pages with a keyset cursor rather than an offset, so that orders placed
// while a client pages neither repeat nor shift later pages.
func (v *OrderViews) List(ctx context.Context, f orders.OrderFilter) (orders.OrderPage, error) {
	filter := bson.D{}
	if f.CustomerID != "" {
		filter = append(filter, bson.E{Key: "customerId", Value: f.CustomerID})
	}
	if !f.Status.IsZero() {
		filter = append(filter, bson.E{Key: "status", Value: f.Status.String()})
	}
	if f.After != nil {
		at := f.After.CreatedAt.UTC()
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "createdAt", Value: bson.D{{Key: "$lt", Value: at}}}},
			bson.D{{Key: "createdAt", Value: at}, {Key: "_id", Value: bson.D{{Key: "$lt", Value: f.After.ID}}}},
		}})
	}
	opts := options.Find().SetSort(newestFirst)
	if f.Limit > 0 {
		// One more than the page tells whether another page follows.
		opts.SetLimit(int64(f.Limit) + 1)
	}
	var docs []orderDoc
	coll, err := v.coll.get(ctx)
	if err == nil {
		docs, err = findAll[orderDoc](ctx, v.client, coll, filter, opts)
	}
	if err != nil {
		return orders.OrderPage{}, fmt.Errorf("list order views: %w", err)
	}
	var page orders.OrderPage
	if f.Limit > 0 && len(docs) > f.Limit {
		docs = docs[:f.Limit]
		last := docs[len(docs)-1]
		page.Next = &orders.OrderCursor{CreatedAt: last.CreatedAt.UTC(), ID: last.ID}
	}
	page.Orders = make([]orders.OrderView, len(docs))
	for i, d := range docs {
		if page.Orders[i], err = d.view(); err != nil {
			return orders.OrderPage{}, err
		}
	}
	return page, nil
}

// Products.

type productDoc struct {
	ID        string    `bson:"_id"`
	Name      string    `bson:"name"`
	Available int       `bson:"available"`
	Reserved  int       `bson:"reserved"`
	UpdatedAt time.Time `bson:"updatedAt"`
	Version   int       `bson:"version"`
}

func (d productDoc) view() inventory.ProductView {
	return inventory.ProductView{ProductID: d.ID, Name: d.Name, Available: d.Available, Reserved: d.Reserved, UpdatedAt: d.UpdatedAt.UTC(), Version: d.Version}
}

// ProductViews is the products read model in the "products" collection of
// the inventory service's database.
type ProductViews struct {
	client *Client
	coll   *activeCollection
}

// NewProductViews opens the read model. It needs no index but _id: products
// are read by id and listed in id order.
func NewProductViews(_ context.Context, client *Client) (*ProductViews, error) {
	return &ProductViews{client: client, coll: newActiveCollection(client, "inventory", "products")}, nil
}

// Create inserts the view of a new product; a repeat of the event finds it
// there and leaves it as it is.
func (v *ProductViews) Create(ctx context.Context, p inventory.ProductView) error {
	doc := productDoc{ID: p.ProductID, Name: p.Name, Available: p.Available, Reserved: p.Reserved, UpdatedAt: bsonTime(p.UpdatedAt), Version: p.Version}
	if err := insertFirst(ctx, v.client, v.coll, p.ProductID, p.Version, doc); err != nil {
		return fmt.Errorf("create product view %s: %w", p.ProductID, err)
	}
	return nil
}

// Update moves the counts with $inc in the same guarded write that bumps the
// version, so that a delta is added exactly once however often it arrives.
func (v *ProductViews) Update(ctx context.Context, productID string, version int, c inventory.StockChange) error {
	update := bson.D{
		{Key: "$inc", Value: bson.D{{Key: "available", Value: c.AvailableDelta}, {Key: "reserved", Value: c.ReservedDelta}}},
		{Key: "$set", Value: bson.D{{Key: "updatedAt", Value: bsonTime(c.UpdatedAt)}, {Key: "version", Value: version}}},
	}
	return guardedUpdate(ctx, v.client, v.coll, "product", productID, version, update)
}

// Get returns inventory.ErrProductNotFound for a product the read model has
// not seen yet.
func (v *ProductViews) Get(ctx context.Context, productID string) (inventory.ProductView, error) {
	var doc productDoc
	coll, err := v.coll.get(ctx)
	if err == nil {
		err = v.client.do(ctx, func(ctx context.Context) error {
			return coll.FindOne(ctx, bson.D{{Key: "_id", Value: productID}}).Decode(&doc)
		})
	}
	if errors.Is(err, mongo.ErrNoDocuments) {
		return inventory.ProductView{}, inventory.ErrProductNotFound
	}
	if err != nil {
		return inventory.ProductView{}, fmt.Errorf("get product view %s: %w", productID, err)
	}
	return doc.view(), nil
}

// List pages by product id, the one order that new products cannot disturb.
func (v *ProductViews) List(ctx context.Context, f inventory.ProductFilter) (inventory.ProductPage, error) {
	filter := bson.D{}
	if f.After != "" {
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: f.After}}})
	}
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})
	if f.Limit > 0 {
		// One more than the page tells whether another page follows.
		opts.SetLimit(int64(f.Limit) + 1)
	}
	var docs []productDoc
	coll, err := v.coll.get(ctx)
	if err == nil {
		docs, err = findAll[productDoc](ctx, v.client, coll, filter, opts)
	}
	if err != nil {
		return inventory.ProductPage{}, fmt.Errorf("list product views: %w", err)
	}
	var page inventory.ProductPage
	if f.Limit > 0 && len(docs) > f.Limit {
		docs = docs[:f.Limit]
		page.Next = docs[len(docs)-1].ID
	}
	page.Products = make([]inventory.ProductView, len(docs))
	for i, d := range docs {
		page.Products[i] = d.view()
	}
	return page, nil
}

// Notifications recorded by versions before correspondences.

type notificationDoc struct {
	ID        string    `bson:"_id"`
	OrderID   string    `bson:"orderId"`
	Kind      string    `bson:"kind"`
	Channel   string    `bson:"channel"`
	Recipient string    `bson:"recipient"`
	Status    string    `bson:"status"`
	Attempts  int       `bson:"attempts"`
	LastError string    `bson:"lastError"`
	UpdatedAt time.Time `bson:"updatedAt"`
}

func (d notificationDoc) view() (notifications.NotificationView, error) {
	kind, err := parseEnum(d.Kind, notification.KindFromString)
	if err != nil {
		return notifications.NotificationView{}, fmt.Errorf("notification view %s: %w", d.ID, err)
	}
	channel, err := parseEnum(d.Channel, notification.ChannelFromString)
	if err != nil {
		return notifications.NotificationView{}, fmt.Errorf("notification view %s: %w", d.ID, err)
	}
	status, err := parseEnum(d.Status, notification.StatusFromString)
	if err != nil {
		return notifications.NotificationView{}, fmt.Errorf("notification view %s: %w", d.ID, err)
	}
	return notifications.NotificationView{
		ID: d.ID, OrderID: d.OrderID, Kind: kind, Channel: channel, Recipient: d.Recipient, Status: status,
		Attempts: d.Attempts, LastError: d.LastError, UpdatedAt: d.UpdatedAt.UTC(),
	}, nil
}

// NotificationArchive reads the read model that versions before
// correspondences kept of every notification, in the "notifications"
// collection of the notifications service's database (or the collection a
// rebuild of it made live). Nothing writes it any more.
type NotificationArchive struct {
	client *Client
	coll   *activeCollection
}

// NewNotificationArchive opens the archive; it reads nothing until asked.
func NewNotificationArchive(client *Client) *NotificationArchive {
	return &NotificationArchive{client: client, coll: newActiveCollection(client, "notifications", "notifications")}
}

// ByOrder lists an order's notifications in a fixed order, so that the API
// answers the same way each time; an order without any has an empty list.
func (a *NotificationArchive) ByOrder(ctx context.Context, orderID string) ([]notifications.NotificationView, error) {
	var docs []notificationDoc
	coll, err := a.coll.get(ctx)
	if err == nil {
		docs, err = findAll[notificationDoc](ctx, a.client, coll, bson.D{{Key: "orderId", Value: orderID}},
			options.Find().SetSort(bson.D{{Key: "kind", Value: 1}, {Key: "channel", Value: 1}}))
	}
	if err != nil {
		return nil, fmt.Errorf("archived notifications of order %s: %w", orderID, err)
	}
	views := make([]notifications.NotificationView, len(docs))
	for i, d := range docs {
		if views[i], err = d.view(); err != nil {
			return nil, err
		}
	}
	return views, nil
}
