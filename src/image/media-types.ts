/** OCI and Docker (schema 2) media types, and what each layer type needs to be read. */

export const MT_OCI_LAYOUT_VERSION = '1.0.0';

export const MT_OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MT_DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const MT_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MT_DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const MT_OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MT_DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';

export const MT_OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
export const MT_OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const MT_OCI_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
export const MT_DOCKER_LAYER_TAR = 'application/vnd.docker.image.rootfs.diff.tar';
export const MT_DOCKER_LAYER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

export type LayerCompression = 'none' | 'gzip' | 'zstd';

const LAYER_TYPES: Record<string, LayerCompression> = {
  [MT_OCI_LAYER_TAR]: 'none',
  [MT_OCI_LAYER_GZIP]: 'gzip',
  [MT_OCI_LAYER_ZSTD]: 'zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar': 'none',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd': 'zstd',
  [MT_DOCKER_LAYER_TAR]: 'none',
  [MT_DOCKER_LAYER_GZIP]: 'gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'gzip',
  'application/vnd.docker.image.rootfs.diff.tar.zstd': 'zstd',
};

/** The compression a layer media type declares, or undefined for a type that is not a layer. */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  return LAYER_TYPES[mediaType];
}

export function isManifestType(mediaType: string): boolean {
  return mediaType === MT_OCI_MANIFEST || mediaType === MT_DOCKER_MANIFEST;
}

export function isIndexType(mediaType: string): boolean {
  return mediaType === MT_OCI_INDEX || mediaType === MT_DOCKER_MANIFEST_LIST;
}

export function isConfigType(mediaType: string): boolean {
  return mediaType === MT_OCI_CONFIG || mediaType === MT_DOCKER_CONFIG;
}

/** Annotation keys carrying an image's name in an OCI layout's index.json. */
export const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
