import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { fileExtension, nodePathPatterns } from "../protocol/routes.ts";
import { keepData, type EnvConfig } from "./config.ts";
import type { Site } from "./release.ts";
import { originHeader } from "./service.ts";

export interface WebArgs {
  cfg: EnvConfig;
  /** Sent to the ALB in `originHeader` on every request: the ALB forwards nothing without it. */
  originSecret: pulumi.Input<string>;
  /** The built web client to upload; without it the bucket stays as it is. */
  site?: Site;
}

/** AWS's managed `CachingOptimized` cache policy. */
const cachingOptimized = "658327ea-f89d-4fab-a63d-7e88639e58f6";
/** AWS's managed `CachingDisabled` cache policy. */
const cachingDisabled = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
/** AWS's managed `AllViewerExceptHostHeader` origin request policy: every header (the WebSocket upgrade's, Authorization), cookie and query string; Host is the origin's, which its certificate names. */
const allViewerExceptHostHeader = "b689b0a8-53d0-40ab-baf2-68738e2966ac";

/**
 * The single-page app's fallback, on the bucket's behaviour only: a path without a file
 * extension (a client route) gets index.html. A distribution-wide custom error response would
 * also turn the API's 403/404 into index.html.
 */
export const spaFallbackCode = `function handler(event) {
  var request = event.request;
  if (!/${fileExtension.source}/.test(request.uri)) request.uri = "/index.html";
  return request;
}`;

/**
 * The browser's one origin: the bundled web client from a private S3 bucket (all public access
 * blocked) readable only by this CloudFront distribution through Origin Access Control, and the
 * paths of `protocol/routes.ts` (`/api/*`, `/socket.io/*`, `/healthz`) forwarded uncached to the
 * ALB by its API domain with this stack's secret origin header. HTTPS only.
 *
 * The built client is uploaded object by object with its content type and Cache-Control
 * (`cacheControlOf`: hashed bundles immutable, the rest `no-cache`), and the distribution is
 * invalidated when, and only when, the upload changed: a `local.Command` runs
 * `aws cloudfront create-invalidation` (the AWS CLI on the machine running `vchat up`),
 * replaced whenever the site's digest moves.
 */
export class Web extends pulumi.ComponentResource {
  readonly url: pulumi.Output<string>;
  readonly bucketName: pulumi.Output<string>;
  readonly distributionId: pulumi.Output<string>;
  /** CloudFront's own name for the distribution (`d123.cloudfront.net`), where a `webDomain` CNAME points. */
  readonly distributionDomain: pulumi.Output<string>;

  constructor(name: string, args: WebArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vchat:stacks:Web", name, {}, opts);
    const { cfg } = args;
    const parent = { parent: this };
    const tags = { "vchat:env": cfg.env };

    const bucket = new aws.s3.Bucket(`${name}-bucket`, { forceDestroy: !cfg.retainData, tags }, { parent: this, ...keepData(cfg) });
    const block = new aws.s3.BucketPublicAccessBlock(
      `${name}-bucket-block`,
      {
        bucket: bucket.id,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      parent,
    );
    new aws.s3.BucketOwnershipControls(`${name}-bucket-ownership`, { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } }, parent);
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-bucket-sse`,
      {
        bucket: bucket.id,
        rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true }],
      },
      parent,
    );

    const oac = new aws.cloudfront.OriginAccessControl(
      `${name}-oac`,
      {
        description: `vchat ${cfg.env} web bucket`,
        originAccessControlOriginType: "s3",
        signingBehavior: "always",
        signingProtocol: "sigv4",
      },
      parent,
    );
    const spaFallback = new aws.cloudfront.Function(
      `${name}-spa`,
      {
        runtime: "cloudfront-js-2.0",
        comment: "client routes get index.html; files and the API paths are left alone",
        code: spaFallbackCode,
        publish: true,
      },
      parent,
    );
    const cert = cfg.webCertificateArn
      ? { acmCertificateArn: cfg.webCertificateArn, sslSupportMethod: "sni-only", minimumProtocolVersion: "TLSv1.2_2021" }
      : { cloudfrontDefaultCertificate: true, minimumProtocolVersion: "TLSv1.2_2021" };
    const cdn = new aws.cloudfront.Distribution(
      `${name}-cdn`,
      {
        enabled: true,
        isIpv6Enabled: true,
        comment: `vchat ${cfg.env} web client`,
        aliases: cfg.webDomain && cfg.webCertificateArn ? [cfg.webDomain] : [],
        defaultRootObject: "index.html",
        priceClass: cfg.env === "prod" ? "PriceClass_All" : "PriceClass_100",
        httpVersion: "http2and3",
        origins: [
          { originId: "web", domainName: bucket.bucketRegionalDomainName, originAccessControlId: oac.id },
          {
            originId: "api",
            domainName: cfg.apiDomain,
            customOriginConfig: { httpPort: 80, httpsPort: 443, originProtocolPolicy: "https-only", originSslProtocols: ["TLSv1.2"] },
            customHeaders: [{ name: originHeader, value: args.originSecret }],
          },
        ],
        defaultCacheBehavior: {
          targetOriginId: "web",
          viewerProtocolPolicy: "redirect-to-https",
          allowedMethods: ["GET", "HEAD"],
          cachedMethods: ["GET", "HEAD"],
          cachePolicyId: cachingOptimized,
          compress: true,
          functionAssociations: [{ eventType: "viewer-request", functionArn: spaFallback.arn }],
        },
        // index.html names the hashed bundles of a release: cached, it would keep old clients on
        // old bundles for up to a day after a deploy. The bundles themselves cache for long.
        orderedCacheBehaviors: [
          ...nodePathPatterns.map((pathPattern) => ({
            pathPattern,
            targetOriginId: "api",
            // A POST is not redirected: plain HTTP is refused instead.
            viewerProtocolPolicy: "https-only",
            allowedMethods: ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"],
            cachedMethods: ["GET", "HEAD"],
            cachePolicyId: cachingDisabled,
            originRequestPolicyId: allViewerExceptHostHeader,
            compress: false,
          })),
          {
            pathPattern: "/index.html",
            targetOriginId: "web",
            viewerProtocolPolicy: "redirect-to-https",
            allowedMethods: ["GET", "HEAD"],
            cachedMethods: ["GET", "HEAD"],
            cachePolicyId: cachingDisabled,
            compress: true,
          },
        ],
        restrictions: { geoRestriction: { restrictionType: "none" } },
        viewerCertificate: cert,
        tags,
      },
      parent,
    );
    new aws.s3.BucketPolicy(
      `${name}-bucket-policy`,
      {
        bucket: bucket.id,
        policy: pulumi.all([bucket.arn, cdn.arn]).apply(([bucketArn, cdnArn]) =>
          JSON.stringify({
            Version: "2012-10-17",
            Statement: [
              {
                Sid: "CloudFrontReadOnly",
                Effect: "Allow",
                Principal: { Service: "cloudfront.amazonaws.com" },
                Action: "s3:GetObject",
                Resource: `${bucketArn}/*`,
                Condition: { StringEquals: { "AWS:SourceArn": cdnArn } },
              },
            ],
          }),
        ),
      },
      { parent: this, dependsOn: [block] },
    );

    if (args.site) {
      const objects = args.site.objects.map(
        (o) =>
          new aws.s3.BucketObjectv2(
            `${name}-file-${o.key}`,
            { bucket: bucket.id, key: o.key, source: new pulumi.asset.FileAsset(o.path), contentType: o.contentType, cacheControl: o.cacheControl },
            parent,
          ),
      );
      new command.local.Command(
        `${name}-invalidate`,
        {
          create: pulumi.interpolate`aws cloudfront create-invalidation --distribution-id ${cdn.id} --paths '/*'`,
          triggers: [args.site.digest],
        },
        { parent: this, dependsOn: objects },
      );
    }

    this.url = cfg.webDomain && cfg.webCertificateArn ? pulumi.output(`https://${cfg.webDomain}`) : pulumi.interpolate`https://${cdn.domainName}`;
    this.bucketName = bucket.bucket;
    this.distributionId = cdn.id;
    this.distributionDomain = cdn.domainName;
    this.registerOutputs({ url: this.url, bucketName: this.bucketName, distributionId: this.distributionId, distributionDomain: this.distributionDomain });
  }
}
