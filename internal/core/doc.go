// Package core is the runtime inside every driver and worker: it owns the
// objects and tasks its process creates, submits tasks through worker
// leases, resolves their arguments, retries them when a worker dies, serves
// its objects to borrowers, and (in a worker) executes pushed tasks.
//
// Ownership follows Ray's design: the process that submits a task or puts
// a value owns the result. Small values live in the owner's memory and
// travel inline; a borrower that holds a reference asks the owner.
package core
