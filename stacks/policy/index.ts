// The policy pack `vchat up` and `vchat preview` pass to the engine (`--policy-pack stacks/policy`).
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies.ts";

new PolicyPack("vchat-security", { policies });
