import type * as aws from "@pulumi/aws";
import * as dockerBuild from "@pulumi/docker-build";
import * as pulumi from "@pulumi/pulumi";
import { join } from "node:path";

export interface ServiceImageArgs {
  repository: aws.ecr.Repository;
  /** The checkout with the Dockerfile; its `.dockerignore` decides the build context. */
  root: string;
  /** Content tag of the build context (`contextTag`): ECR refuses to move a tag. */
  tag: string;
}

/**
 * The service image, built from the checkout's Dockerfile with BuildKit (`@pulumi/docker-build`,
 * which needs Docker with buildx on the machine running `vchat up`) and pushed to the stack's
 * ECR repository. `ref` names it by tag and digest, so the task definition runs exactly the
 * image pushed. Not built during previews: a preview shows the build, `up` performs it.
 *
 * The push uses the Docker credentials of the machine running `vchat up` (`docker login` to the
 * account's ECR registry, or the ECR credential helper), not a `registries` input: an ECR token
 * changes on every run, so as an input it would differ between the preview and the `up` that
 * must apply exactly the previewed plan, and the engine refuses such a plan.
 *
 * The build context's location is absolute and differs between machines: changes to it are
 * ignored, and the tag (the context's digest) is what moves when the sources do.
 */
export class ServiceImage extends pulumi.ComponentResource {
  readonly ref: pulumi.Output<string>;

  constructor(name: string, args: ServiceImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vchat:stacks:ServiceImage", name, { root: args.root, tag: args.tag }, opts);
    const { repository } = args;
    const image = new dockerBuild.Image(
      `${name}-build`,
      {
        context: { location: args.root },
        dockerfile: { location: join(args.root, "Dockerfile") },
        // The task definition's runtime platform (stacks/fargate.ts).
        platforms: [dockerBuild.Platform.Linux_amd64],
        push: true,
        tags: [pulumi.interpolate`${repository.repositoryUrl}:${args.tag}`],
        buildOnPreview: false,
      },
      { parent: this, ignoreChanges: ["context", "dockerfile"] },
    );
    this.ref = image.ref;
    this.registerOutputs({ ref: this.ref });
  }
}
