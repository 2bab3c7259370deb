package protocol

// OwnerCancelTask asks a task's owner to cancel it (a CancelTaskRequest):
// a process that only borrows the task's result forwards its Cancel to
// the owner, as Ray does.
const OwnerCancelTask = "core.OwnerCancelTask"
