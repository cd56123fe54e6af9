import { z } from 'zod';

const coding = z.object({ system: z.string().min(1), code: z.string().min(1), display: z.string().optional() }).strict();

/**
 * mappings/governance.json: what governance needs to know about the site that the pathway records do not
 * say. A crisis re-contact (spec §6) is a later crisis-transition record, or an Encounter on the FHIR server
 * whose class or type is one of these codings: which Encounters those are differs from site to site.
 */
export const governanceSchema = z
  .object({
    $comment: z.string().optional(),
    crisisContactEncounter: z
      .object({
        /** Encounter.class codings (v3-ActCode, e.g. EMER) that make an Encounter a crisis contact. */
        class: z.array(coding),
        /** Encounter.type codings that make an Encounter a crisis contact. */
        type: z.array(coding),
      })
      .strict()
      .refine((v) => v.class.length + v.type.length > 0, 'name at least one class or type coding'),
  })
  .strict();

export type GovernanceConfig = z.infer<typeof governanceSchema>;
