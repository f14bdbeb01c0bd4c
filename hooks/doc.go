// Package hooks runs operator hook commands around takeover and release,
// and the fence command before a takeover from a silent peer.
//
// A hook is an argv run without a shell, in its own process group, with a
// timeout after which the whole group is killed. The event is passed in
// environment variables (PBXHA_EVENT, PBXHA_NODE, PBXHA_ROLE, PBXHA_EPOCH,
// PBXHA_VIP...), on top of pbxha's own environment minus its PBXHA_*
// variables, which may carry configuration secrets. Combined stdout and
// stderr are captured up to a bound; the first lines go into the error of a
// failed hook.
package hooks
