import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { keepData, type EnvConfig } from "./config.ts";

/**
 * Stores a value in Secrets Manager; the service and TURN roles may read only the ARNs they name.
 * `secretName` fixes the name (known at preview) where something must refer to it before the ARN exists.
 */
export function storedSecret(
  name: string,
  description: string,
  value: pulumi.Input<string>,
  cfg: EnvConfig,
  parent: pulumi.Resource,
  secretName?: string,
): aws.secretsmanager.Secret {
  const kept = { parent, ...keepData(cfg) };
  const secret = new aws.secretsmanager.Secret(
    name,
    {
      ...(secretName ? { name: secretName } : {}),
      description,
      // prod keeps a week to undo a mistaken delete; dev frees the name at once for the next `up`.
      recoveryWindowInDays: cfg.retainData ? 7 : 0,
      tags: { "vchat:env": cfg.env },
    },
    kept,
  );
  new aws.secretsmanager.SecretVersion(`${name}-value`, { secretId: secret.id, secretString: pulumi.secret(value) }, kept);
  return secret;
}

export interface SecretsArgs {
  cfg: EnvConfig;
}

/**
 * The service's generated secrets: the JWT signing secret, the admin API's signing secret (apart
 * from the JWT one, so a user's token never passes as an operator's) and the TURN REST shared secret
 * (alphanumeric so the TURN boot script can substitute it without escaping), and the secret
 * header that shows the ALB a request came through this stack's CloudFront.
 */
export class Secrets extends pulumi.ComponentResource {
  readonly jwtSecretArn: pulumi.Output<string>;
  readonly adminSecretArn: pulumi.Output<string>;
  readonly turnSecretArn: pulumi.Output<string>;
  /** The TURN secret's name, fixed so the boot script can be planned (and policy-checked) before the ARN exists. */
  readonly turnSecretName: string;
  /**
   * The value CloudFront sends to the ALB in `originHeader` and the ALB requires: it lives in the
   * two resources' settings (and Pulumi's encrypted state), so it needs no Secrets Manager entry.
   */
  readonly originSecret: pulumi.Output<string>;

  constructor(name: string, args: SecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vchat:stacks:Secrets", name, {}, opts);
    const { cfg } = args;
    const jwt = new random.RandomPassword(`${name}-jwt`, { length: 48, special: false }, { parent: this, ...keepData(cfg) });
    const admin = new random.RandomPassword(`${name}-admin`, { length: 48, special: false }, { parent: this, ...keepData(cfg) });
    const turn = new random.RandomPassword(`${name}-turn`, { length: 40, special: false }, { parent: this, ...keepData(cfg) });
    const origin = new random.RandomPassword(`${name}-origin`, { length: 40, special: false }, { parent: this });
    this.originSecret = pulumi.secret(origin.result);
    this.turnSecretName = `vchat-${cfg.env}/turn-shared-secret`;
    this.jwtSecretArn = storedSecret(`${name}-jwt-secret`, "vchat JWT signing secret", jwt.result, cfg, this).arn;
    this.adminSecretArn = storedSecret(
      `${name}-admin-secret`,
      "vchat admin API signing secret (VCHAT_ADMIN_SECRET for vchat admin)",
      admin.result,
      cfg,
      this,
    ).arn;
    this.turnSecretArn = storedSecret(
      `${name}-turn-secret`,
      "vchat TURN REST shared secret (coturn static-auth-secret)",
      turn.result,
      cfg,
      this,
      this.turnSecretName,
    ).arn;
    this.registerOutputs({ jwtSecretArn: this.jwtSecretArn, adminSecretArn: this.adminSecretArn, turnSecretArn: this.turnSecretArn });
  }
}
