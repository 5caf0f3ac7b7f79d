/** `leave-joint`: the incoming configuration alone; demoted outgoing voters become learners. */
import type { Handler } from "./Env.js"

export const leaveJoint: Handler = (env) => env.apply((changer) => changer.leaveJoint())
