/**
 * The NAT lab itself: it leaves nothing behind, cleans up after a run that was killed, and its
 * NAT kinds behave as named on a plain UDP probe (no vchat code involved).
 */
import { spawn, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { natlabMissing, startNatLab } from "./support/natlab.ts";

const missing = natlabMissing();
if (missing) console.warn(`tests/natlab.test.ts skipped: ${missing}`);

const namespaces = () => spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout.split("\n").map((l) => l.split(" ")[0]!).filter(Boolean);

describe.skipIf(missing)("the NAT lab", () => {
  it("destroy() deletes every namespace it made and kills what ran in them", async () => {
    const lab = await startNatLab({ nets: ["symmetric", "none"] });
    const mine = namespaces().filter((n) => n.startsWith(lab.prefix));
    expect(mine).toHaveLength(4); // pub, router, host, host
    const sleeper = lab.spawn(lab.nets[0]!.ns, "sleep", ["60"]);
    await lab.destroy();
    expect(namespaces().filter((n) => n.startsWith(lab.prefix))).toEqual([]);
    await new Promise((r) => (sleeper.exitCode !== null || sleeper.signalCode !== null ? r(null) : sleeper.once("exit", r)));
    expect(sleeper.signalCode).toBe("SIGKILL");
  });

  it("a lab left by a run that was SIGKILLed is deleted when the next one starts", async () => {
    const support = new URL("./support/natlab.ts", import.meta.url).pathname;
    const child = spawn(process.execPath, ["-e", `import(${JSON.stringify(support)}).then(async (m) => { const lab = await m.startNatLab({ nets: ["eim-eif"] }); console.log(lab.prefix); setInterval(() => {}, 1000); })`], { stdio: ["ignore", "pipe", "inherit"] });
    const prefix = await new Promise<string>((resolve) => child.stdout.once("data", (c: Buffer) => resolve(c.toString().trim())));
    expect(namespaces().filter((n) => n.startsWith(prefix))).toHaveLength(3);
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    const lab = await startNatLab({ nets: [] });
    try {
      expect(namespaces().filter((n) => n.startsWith(prefix))).toEqual([]);
    } finally {
      await lab.destroy();
    }
  });

  it("NAT kinds map as named: a host behind symmetric gets a new port per destination, behind a cone the same", async () => {
    const lab = await startNatLab({ nets: ["eim-apdf", "symmetric"], serverAddresses: ["203.0.113.10", "203.0.113.11"] });
    try {
      // A UDP echo of the sender's address on two public addresses; the host sends from one port to both.
      const echo = `const d=require("dgram");for(const a of ["203.0.113.10","203.0.113.11"]){const s=d.createSocket("udp4");s.on("message",(m,r)=>s.send(r.address+":"+r.port,r.port,r.address));s.bind(5000,a)}console.log("up")`;
      const server = lab.spawn(lab.pub, process.execPath, ["-e", echo]);
      await new Promise((r) => server.stdout!.once("data", r));
      const probe = `const s=require("dgram").createSocket("udp4");const seen=[];s.on("message",(m)=>{seen.push(m.toString());if(seen.length===2){console.log(JSON.stringify(seen));process.exit(0)}});s.bind(40000,()=>{s.send("x",5000,"203.0.113.10");s.send("x",5000,"203.0.113.11")});setTimeout(()=>process.exit(1),3000)`;
      const seen = async (i: number) => JSON.parse((await lab.run(lab.nets[i]!.ns, process.execPath, ["-e", probe])).stdout) as string[];
      const [cone, symmetric] = await Promise.all([seen(0), seen(1)]);
      expect(cone).toEqual([`${lab.nets[0]!.publicAddress}:40000`, `${lab.nets[0]!.publicAddress}:40000`]);
      expect(new Set(symmetric.map((s) => s.split(":")[0]))).toEqual(new Set([lab.nets[1]!.publicAddress]));
      expect(symmetric[0]).not.toBe(symmetric[1]);
    } finally {
      await lab.destroy();
    }
  });
});
