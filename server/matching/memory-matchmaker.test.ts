import { matchmakerContract } from "./matchmaker.contract.ts";
import { createMemoryMatchmaker } from "./memory-matchmaker.ts";

matchmakerContract("memory", async (opts) => createMemoryMatchmaker(opts));
