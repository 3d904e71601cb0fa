// Package pvwire implements the paravirtual protocol of spec/pv.go: the
// message codec and the shared-memory rings. Both ends use it: the guest
// driver (package frontend) and the host endpoint (package pvhost), so
// there is one implementation of every byte offset, and the C header is
// generated from the same spec tables (package frontend/cheader).
//
// It lives under frontend because it is the guest-facing ABI; it imports
// only spec and the standard library, so the host side importing it pulls
// in nothing of the guest driver.
//
// # Trust
//
// The rings live in memory both processes can write at any time. A consumer
// therefore keeps its own copy of the index it owns, never reads it back,
// validates every index the peer writes (an index that jumps more than a
// ring's worth ahead or moves backwards is a protocol error, and the
// session cannot be trusted after it), and copies each message out of the
// ring before decoding it, so the peer cannot change a message between its
// validation and its use (the double-fetch bugs of Xen's XSA-155).
//
// # Notification
//
// Each ring side that goes to sleep stores its event index and then loads
// the peer's index; the peer stores its index and then loads the event
// index (Consumer.Arm against Producer.Publish, Producer.WantSpace against
// Consumer.Publish). One of the two must see the other's store, or a kick
// is lost. That store-then-load needs a full fence, so those stores are
// atomic exchanges (storeFenced): atomic.StoreUint32 gives the fence in a
// normal build but not under the race detector on an mmap, where it let
// wakeups be lost. ReadIndexes and EventfdCount snapshot the control words
// and eventfd counters when a bounded sleep finds a notification lost.
//
// Decoders (DecodeRequest, DecodeResponse, DecodeSock) take a copied
// message and return a *DecodeError naming the type, the field and the
// values when the bytes do not match the layout. They never panic on any
// input (FuzzDecodeRequest, FuzzDecodeResponse, FuzzDecodeSock,
// FuzzConsumer).
package pvwire
