package httpport

import (
	"log/slog"
	"net/http"
	"net/url"

	"github.com/gorilla/mux"

	"shop/app/inventory"
	"shop/domain/validation"
)

// NewInventoryHandler is the HTTP API of the inventory service.
func NewInventoryHandler(app inventory.Application, base Base) http.Handler {
	h := inventoryHandler{app: app, logger: base.Logger}
	r := newRouter(base)
	r.HandleFunc("/products", h.add).Methods(http.MethodPost)
	r.HandleFunc("/products", h.list).Methods(http.MethodGet)
	r.HandleFunc("/products/{id}", h.get).Methods(http.MethodGet)
	r.HandleFunc("/products/{id}/restock", h.restock).Methods(http.MethodPost)
	return r
}

type inventoryHandler struct {
	app    inventory.Application
	logger *slog.Logger
}

type productResponse struct {
	Success bool        `json:"success"`
	Message string      `json:"message,omitempty"`
	Product productJSON `json:"product"`
}

type productJSON struct {
	ProductID string `json:"productId"`
	Name      string `json:"name"`
	Available int    `json:"available"`
	Reserved  int    `json:"reserved"`
	UpdatedAt string `json:"updatedAt,omitempty"`
}

func productViewJSON(v inventory.ProductView) productJSON {
	j := productJSON{ProductID: v.ProductID, Name: v.Name, Available: v.Available, Reserved: v.Reserved}
	if !v.UpdatedAt.IsZero() {
		j.UpdatedAt = v.UpdatedAt.UTC().Format(timeFormat)
	}
	return j
}

type addProductRequest struct {
	ProductID string `json:"productId"`
	Name      string `json:"name"`
	// Stock is required: a product added without it would have none
	// without saying so (0 is given explicitly).
	Stock *int `json:"stock"`
}

func (h inventoryHandler) add(w http.ResponseWriter, r *http.Request) {
	var req addProductRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		writeError(w, r, h.logger, err)
		return
	}
	if req.Stock == nil {
		var v validation.Errors
		v.Add("stock", "is required (0 for a product not in stock yet)")
		writeError(w, r, h.logger, v.Err())
		return
	}
	err := h.app.Commands.AddProduct.Handle(r.Context(), inventory.AddProduct{ProductID: req.ProductID, Name: req.Name, InitialStock: *req.Stock})
	if err != nil {
		writeError(w, r, h.logger, err)
		return
	}
	h.answerStock(w, r, req.ProductID, http.StatusCreated, "Product added")
}

type restockRequest struct {
	Quantity int `json:"quantity"`
}

func (h inventoryHandler) restock(w http.ResponseWriter, r *http.Request) {
	var req restockRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		writeError(w, r, h.logger, err)
		return
	}
	id := mux.Vars(r)["id"]
	if err := h.app.Commands.Restock.Handle(r.Context(), inventory.Restock{ProductID: id, Quantity: req.Quantity}); err != nil {
		writeError(w, r, h.logger, err)
		return
	}
	h.answerStock(w, r, id, http.StatusOK, "Product restocked")
}

// answerStock answers a change with the product's stock as the change left it.
func (h inventoryHandler) answerStock(w http.ResponseWriter, r *http.Request, id string, status int, message string) {
	v, err := h.app.Queries.Stock.Handle(r.Context(), inventory.GetStock{ProductID: id})
	if err != nil {
		writeError(w, r, h.logger, err)
		return
	}
	if status == http.StatusCreated {
		w.Header().Set("Location", "/products/"+url.PathEscape(id))
	}
	writeJSON(w, status, productResponse{Success: true, Message: message, Product: productViewJSON(v)})
}

func (h inventoryHandler) get(w http.ResponseWriter, r *http.Request) {
	v, err := h.app.Queries.Product.Handle(r.Context(), inventory.GetProduct{ProductID: mux.Vars(r)["id"]})
	if err != nil {
		writeError(w, r, h.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, productResponse{Success: true, Product: productViewJSON(v)})
}

func (h inventoryHandler) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := parseLimit(q.Get("limit"))
	if err != nil {
		writeError(w, r, h.logger, err)
		return
	}
	// The cursor is the last product id of the page before, so it is one.
	cursor := q.Get("cursor")
	if cursor != "" && !validation.SafeID(cursor, 128) {
		writeError(w, r, h.logger, badRequest("invalid_parameter", "cursor must be the nextCursor of a page before"))
		return
	}
	page, err := h.app.Queries.Products.Handle(r.Context(), inventory.ListProducts{Limit: limit, After: cursor})
	if err != nil {
		writeError(w, r, h.logger, err)
		return
	}
	body := struct {
		Success    bool          `json:"success"`
		Products   []productJSON `json:"products"`
		NextCursor string        `json:"nextCursor,omitempty"`
	}{Success: true, Products: mapSlice(page.Products, productViewJSON), NextCursor: page.Next}
	writeJSON(w, http.StatusOK, body)
}
