/**
 * Records a network's work into a compute pass: the input encoding and the
 * forward pass (with optional spike statistics), the loss, and the
 * event-driven backward pass with the optimiser update. Only dispatches are
 * recorded: no buffer, pipeline or bind group is made here, and nothing is
 * read back, so many whole steps fit in one submission.
 *
 * @module
 */

import { grid1d } from "./gpu.ts";
import {
  dispatchDirectConv,
  dispatchDirectWeight,
  dispatchGemm,
  dispatchWeightEvents,
  elementwise,
} from "./layers.ts";
import type { Network } from "./network.ts";
import { sizeOf } from "./spec.ts";

/**
 * Records the input encoding (unless `encode` is false) and the forward pass
 * of `batch` samples. With `fuse` (a training step without statistics), a
 * direct convolution before a 2 x 2 pool writes the pool's output itself and
 * the pool's pass is skipped: the layer's own times and non-winners' factors
 * are then not written (nothing in such a step reads them).
 */
export function encodeForward(
  net: Network,
  pass: GPUComputePassEncoder,
  batch: number,
  stats: boolean,
  encode = true,
  fuse = false,
): void {
  if (encode) {
    pass.setPipeline(net.encode.program.pipeline);
    pass.setBindGroup(1, net.encode.group);
    elementwise(pass, batch * sizeOf(net.opts.inputShape));
  }
  let skipPool = false;
  for (const L of net.layers) {
    if (skipPool) {
      skipPool = false;
      continue;
    }
    if (L.weighted) {
      const g = L.gemm!;
      if (fuse && !stats && L.fusedPool && L.sparse) {
        pass.setBindGroup(1, L.fusedPool.group);
        dispatchDirectConv(
          pass,
          L.fusedPool.conv,
          g,
          batch,
          L.groups.windows!,
          L.transposedAt!.forward,
        );
        skipPool = true;
        continue;
      }
      pass.setBindGroup(1, L.groups.forward);
      if (L.weighted.direct) {
        const d = L.weighted.direct.forward;
        dispatchDirectConv(pass, d, g, batch, L.groups.windows!, L.transposedAt!.forward);
      } else {
        if (L.groups.windows) pass.setBindGroup(2, L.groups.windows);
        dispatchGemm(pass, L.weighted.forward!, g.co, batch * g.h * g.w);
      }
      if (L.weighted.finishForward) {
        pass.setPipeline(L.weighted.finishForward.pipeline);
        pass.setBindGroup(1, L.groups.finish!);
        elementwise(pass, g.co * batch * g.h * g.w);
      }
    } else {
      pass.setPipeline(L.pool!.forward.pipeline);
      pass.setBindGroup(1, L.groups.forward);
      elementwise(pass, batch * sizeOf(L.plan.outShape));
    }
    if (stats && L.stats) {
      const groups = Math.ceil((batch * sizeOf(L.plan.outShape)) / 4096);
      pass.setPipeline(L.stats.partial.pipeline);
      pass.setBindGroup(1, L.stats.group);
      pass.dispatchWorkgroups(...grid1d(groups));
      pass.setPipeline(L.stats.final.pipeline);
      pass.dispatchWorkgroups(1);
    }
  }
}

/** Records the loss (and its gradient) into the accumulators of the step's slot. */
export function encodeLoss(
  net: Network,
  pass: GPUComputePassEncoder,
  lossGroup: GPUBindGroup,
): void {
  pass.setPipeline(net.loss.pipeline);
  pass.setBindGroup(1, lossGroup);
  pass.dispatchWorkgroups(1);
}

/** Records the event-driven backward pass and (unless `update` is false) the optimiser update. */
export function encodeBackward(
  net: Network,
  pass: GPUComputePassEncoder,
  batch: number,
  update = true,
): void {
  for (let i = net.layers.length - 1; i >= 0; i--) {
    const L = net.layers[i];
    if (L.weighted) {
      const g = L.gemm!;
      const W = L.weighted;
      const ev = L.events;
      if (ev) {
        // dL/dtau (from the next layer, or the pool after this one) into G, and the event lists.
        pass.setPipeline(ev.builder.pipeline);
        pass.setBindGroup(1, ev.groups.builder);
        pass.dispatchWorkgroups(...grid1d(Math.ceil((batch * g.co) / 64)));
      } else if (W.scale) {
        pass.setPipeline(W.scale.pipeline);
        pass.setBindGroup(1, L.groups.scale!);
        elementwise(pass, batch * sizeOf(L.plan.outShape));
      }
      if (ev && L.sparse) {
        pass.setBindGroup(1, ev.groups.weight);
        dispatchWeightEvents(pass, ev.weight, g, W.weightSplits);
      } else {
        pass.setBindGroup(1, L.groups.weight!);
        if (W.direct?.weight) dispatchDirectWeight(pass, W.direct.weight, g, W.weightSplits);
        else dispatchGemm(pass, W.backwardWeight!, g.co, g.ci * g.ks * g.ks);
      }
      if (L.groups.reduce) {
        pass.setPipeline(W.reduce.pipeline);
        pass.setBindGroup(1, L.groups.reduce);
        elementwise(pass, L.size);
      }
      if (L.groups.backward) {
        pass.setBindGroup(1, L.groups.backward);
        if (W.direct?.backwardInput) {
          const d = W.direct.backwardInput;
          dispatchDirectConv(pass, d, g, batch, L.groups.windowsInput!, L.transposedAt!.input);
        } else {
          if (L.groups.windows) pass.setBindGroup(2, L.groups.windows);
          dispatchGemm(pass, W.backwardInput!, g.ci, batch * g.h * g.w);
        }
      }
    } else if (L.groups.backward && !L.fusedBackward) {
      pass.setPipeline(L.pool!.backward.pipeline);
      pass.setBindGroup(1, L.groups.backward);
      elementwise(pass, batch * sizeOf(L.plan.inShape));
    }
  }
  if (update) {
    pass.setPipeline(net.optim.program.pipeline);
    pass.setBindGroup(1, net.optim.group);
    elementwise(pass, net.layout.count / 4);
    encodeTransposes(net, pass);
  }
}

/**
 * Records the copies of the weights that direct convolutions read
 * (`transpose_weights.wgsl`): after every change of `params` (the
 * optimizer's update, a host write), before the next forward pass.
 */
export function encodeTransposes(net: Network, pass: GPUComputePassEncoder): void {
  for (const c of net.transposed.copies) {
    pass.setPipeline(c.program.pipeline);
    pass.setBindGroup(1, c.group);
    elementwise(pass, c.count);
  }
}
