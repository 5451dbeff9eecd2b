// Package inventory reads what an agent knows about its own host: identity,
// operating system, processors, memory and network interfaces.
package inventory

import (
	"context"
	"fmt"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

// Collect reads this host's inventory, trimmed to wire.DefaultLimits. A
// source that cannot be read is listed in Inventory.Errors and costs only
// itself; Collect fails only when ctx ends first.
func Collect(ctx context.Context) (*wire.Inventory, error) {
	r := gather(ctx)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("collecting inventory: %w", err)
	}
	return build(r, time.Now(), wire.DefaultLimits), nil
}
