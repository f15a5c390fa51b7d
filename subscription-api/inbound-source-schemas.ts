/**
 * Wire contracts of the inbound-source routes (zod; validation, serialization and the OpenAPI document). Requests
 * are `.strict()`. Responses never carry a secret except `secret` in the create and rotate-secret answers.
 */
import { z } from 'zod';
import { JSON_POINTER, parseCidr } from '../pipeline/shared/inbound/inbound-source';
import { tenantIdSchema } from './schemas';

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const headerName = z.string().min(1).max(128).regex(HEADER_NAME, 'an HTTP header name');
const jsonPointer = z.string().min(2).max(256).regex(JSON_POINTER, 'a JSON pointer (RFC 6901), e.g. /data/object/id');
const secret = z
  .string()
  .min(8)
  .max(1024)
  .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')
  .optional()
  .describe('The shared secret (for BASIC the password, for BEARER the token). Left out: the hub generates one.');
const tolerance = z
  .number()
  .int()
  .min(1)
  .max(3600)
  .default(300)
  .describe('How far the signed timestamp may be from now, in seconds');

export const verificationInput = z.discriminatedUnion(
  'scheme',
  [
    z.object({ scheme: z.literal('STANDARD_WEBHOOKS'), toleranceSeconds: tolerance, secret }).strict(),
    z.object({ scheme: z.literal('GITHUB'), secret }).strict(),
    z.object({ scheme: z.literal('STRIPE'), toleranceSeconds: tolerance, secret }).strict(),
    z.object({ scheme: z.literal('SLACK'), toleranceSeconds: tolerance, secret }).strict(),
    z
      .object({
        scheme: z.literal('HMAC_SHA256'),
        header: headerName.describe('The header carrying the signature'),
        encoding: z.enum(['hex', 'base64']).default('hex'),
        prefix: z
          .string()
          .max(32)
          .regex(/^[\x21-\x7e]*$/, 'printable ASCII without spaces')
          .default('')
          .describe('Text before the signature in the header, e.g. "sha256="'),
        secret,
      })
      .strict(),
    z
      .object({
        scheme: z.literal('BASIC'),
        username: z
          .string()
          .min(1)
          .max(256)
          .regex(/^[^:\r\n\0]*$/, 'no colon or control characters'),
        secret,
      })
      .strict(),
    z.object({ scheme: z.literal('BEARER'), secret }).strict(),
    z.object({ scheme: z.literal('NONE') }).strict(),
  ],
  {
    error: () =>
      'verification.scheme must be one of STANDARD_WEBHOOKS, GITHUB, STRIPE, SLACK, HMAC_SHA256, BASIC, BEARER, NONE',
  },
);
export type VerificationInput = z.infer<typeof verificationInput>;

export const valueRef = z
  .union([
    z.object({ header: headerName }).strict(),
    z.object({ jsonPointer }).strict(),
    z
      .object({
        value: z
          .string()
          .min(1)
          .max(128)
          .regex(/^[A-Za-z0-9._:/-]+$/, 'letters, digits and . _ : / - only'),
      })
      .strict(),
  ])
  .describe('{ "header": name } | { "jsonPointer": "/path" } | { "value": constant }');

export const dedupeRef = z
  .union([z.object({ header: headerName }).strict(), z.object({ jsonPointer }).strict()])
  .nullable()
  .describe("Where the vendor's delivery id is; null = no dedupe. Left out: the scheme's default");

const cidr = z
  .string()
  .min(2)
  .max(64)
  .refine((c) => parseCidr(c) !== undefined, 'an IPv4 or IPv6 CIDR, e.g. 192.30.252.0/22');

export const mappingInput = z
  .object({
    eventType: valueRef.optional(),
    resourceType: valueRef.optional(),
    operationType: valueRef.optional(),
    sourceService: valueRef.optional(),
  })
  .strict()
  .describe("The platform event's match key; left-out parts take the scheme's defaults");

export const createInboundSourceBody = z
  .object({
    tenantId: tenantIdSchema.optional().describe('Required for operator keys; tenant keys default to their tenant'),
    name: z.string().min(1).max(200),
    verification: verificationInput,
    allowedCidrs: z.array(cidr).max(100).default([]).describe('Addresses allowed to call; [] = any'),
    dedupe: dedupeRef.optional(),
    mapping: mappingInput.default({}),
  })
  .strict();
export type CreateInboundSourceInput = z.infer<typeof createInboundSourceBody>;

/** PATCH: settings only; the scheme stays (create a new source to change it), secrets change by rotate-secret. */
export const patchInboundSourceBody = z
  .object({
    name: z.string().min(1).max(200).optional(),
    verification: z
      .discriminatedUnion('scheme', [
        z.object({ scheme: z.literal('STANDARD_WEBHOOKS'), toleranceSeconds: tolerance }).strict(),
        z.object({ scheme: z.literal('GITHUB') }).strict(),
        z.object({ scheme: z.literal('STRIPE'), toleranceSeconds: tolerance }).strict(),
        z.object({ scheme: z.literal('SLACK'), toleranceSeconds: tolerance }).strict(),
        z
          .object({
            scheme: z.literal('HMAC_SHA256'),
            header: headerName,
            encoding: z.enum(['hex', 'base64']).default('hex'),
            prefix: z.string().max(32).default(''),
          })
          .strict(),
        z.object({ scheme: z.literal('BASIC'), username: z.string().min(1).max(256) }).strict(),
        z.object({ scheme: z.literal('BEARER') }).strict(),
        z.object({ scheme: z.literal('NONE') }).strict(),
      ])
      .optional(),
    allowedCidrs: z.array(cidr).max(100).optional(),
    dedupe: dedupeRef.optional(),
    mapping: mappingInput.optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'the patch is empty');
export type PatchInboundSourceInput = z.infer<typeof patchInboundSourceBody>;

export const rotateInboundSecretBody = z
  .object({
    secret: secret.describe(
      'The new secret (e.g. the one the vendor generated when you rolled it there). Left out: the hub generates one.',
    ),
  })
  .strict()
  .default({});

export const listInboundSourcesQuery = z
  .object({
    tenantId: tenantIdSchema.optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().min(1).max(200).optional(),
  })
  .strict();
export type ListInboundSourcesQuery = z.infer<typeof listInboundSourcesQuery>;

const valueRefView = z.union([
  z.object({ header: z.string() }),
  z.object({ jsonPointer: z.string() }),
  z.object({ value: z.string() }),
]);

export const inboundSourceView = z
  .object({
    id: z.string(),
    tenantId: z.string(),
    name: z.string(),
    url: z.string().describe('The URL the vendor calls (POST)'),
    verification: z
      .object({
        scheme: z.string(),
        toleranceSeconds: z.number().int().optional(),
        header: z.string().optional(),
        encoding: z.string().optional(),
        prefix: z.string().optional(),
        username: z.string().optional(),
      })
      .describe('The scheme and its settings; never the secret'),
    secret: z.object({
      set: z.boolean(),
      previousSecretExpiresAt: z
        .string()
        .nullable()
        .describe('When set, the previous secret is still accepted until then'),
    }),
    allowedCidrs: z.array(z.string()),
    dedupe: z.union([z.object({ header: z.string() }), z.object({ jsonPointer: z.string() })]).nullable(),
    mapping: z.object({
      eventType: valueRefView,
      resourceType: valueRefView,
      operationType: valueRefView,
      sourceService: valueRefView,
    }),
    version: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'InboundSource' });
export type InboundSourceView = z.infer<typeof inboundSourceView>;

export const createdInboundSourceView = inboundSourceView.extend({
  secret: inboundSourceView.shape.secret.extend({
    value: z.string().nullable().describe('The secret to configure at the vendor. Shown only in this response.'),
  }),
});

export const rotatedInboundSecretView = z.object({
  id: z.string(),
  secret: z.string().describe('The new secret. Shown only in this response.'),
  previousSecretExpiresAt: z.string(),
  version: z.number().int(),
});

export const inboundSourcePage = z.object({ items: z.array(inboundSourceView), nextCursor: z.string().nullable() });
