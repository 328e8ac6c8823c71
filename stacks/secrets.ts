import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { EnvConfig } from "./config.ts";

/** Stores a value in Secrets Manager; the service and TURN roles may read only the ARNs they name. */
export function storedSecret(
  name: string,
  description: string,
  value: pulumi.Input<string>,
  cfg: EnvConfig,
  parent: pulumi.Resource,
): aws.secretsmanager.Secret {
  const secret = new aws.secretsmanager.Secret(
    name,
    {
      description,
      // prod keeps a week to undo a mistaken delete; dev frees the name at once for the next `up`.
      recoveryWindowInDays: cfg.retainData ? 7 : 0,
      tags: { "vchat:env": cfg.env },
    },
    { parent },
  );
  new aws.secretsmanager.SecretVersion(`${name}-value`, { secretId: secret.id, secretString: pulumi.secret(value) }, { parent });
  return secret;
}

export interface SecretsArgs {
  cfg: EnvConfig;
}

/**
 * The service's generated secrets: the JWT signing secret and the TURN REST shared secret
 * (alphanumeric so the TURN boot script can substitute it without escaping).
 */
export class Secrets extends pulumi.ComponentResource {
  readonly jwtSecretArn: pulumi.Output<string>;
  readonly turnSecretArn: pulumi.Output<string>;

  constructor(name: string, args: SecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vchat:stacks:Secrets", name, {}, opts);
    const { cfg } = args;
    const jwt = new random.RandomPassword(`${name}-jwt`, { length: 48, special: false }, { parent: this });
    const turn = new random.RandomPassword(`${name}-turn`, { length: 40, special: false }, { parent: this });
    this.jwtSecretArn = storedSecret(`${name}-jwt-secret`, "vchat JWT signing secret", jwt.result, cfg, this).arn;
    this.turnSecretArn = storedSecret(`${name}-turn-secret`, "vchat TURN REST shared secret (coturn static-auth-secret)", turn.result, cfg, this).arn;
    this.registerOutputs({ jwtSecretArn: this.jwtSecretArn, turnSecretArn: this.turnSecretArn });
  }
}
